import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tempDir } from './testing/temp.js';

const run = promisify(execFile);

// Commands that never touch S3 must start as fast as before: the SDK is loaded by openRemote('s3://...') only.
test('importing @cairn/remote and opening a folder remote loads no AWS SDK module', async () => {
  const index = new URL('./index.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const { openRemote } = await import(${JSON.stringify(index)});
    const r = await openRemote('file://' + process.argv[1]);
    await r.refs.list();
    await r.close();
    const loaded = Object.keys(createRequire(import.meta.url)('node:module')._cache).filter((p) => p.includes('@aws-sdk') || p.includes('@smithy'));
    process.stdout.write(JSON.stringify(loaded));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, await tempDir()]);
  assert.deepEqual(JSON.parse(stdout), []);
});

test('opening an s3:// remote loads the SDK (the check above can see it)', async () => {
  const index = new URL('./index.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const { openRemote } = await import(${JSON.stringify(index)});
    const r = await openRemote('s3://some-bucket/x', { endpoint: 'http://127.0.0.1:1', env: { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' } });
    const loaded = Object.keys(createRequire(import.meta.url)('node:module')._cache).filter((p) => p.includes('@aws-sdk'));
    process.stdout.write(String(loaded.length));
    process.exit(0);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  assert.ok(Number(stdout) > 0, stdout);
});
