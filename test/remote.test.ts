// Black-box tests of remotes: two workspaces ("machines") sharing one file:// remote in a temp
// folder, pushing and pulling with the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cairn, tempDir, type RunResult } from './lib/cli.js';

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** A file:// URL of a fresh folder (the remote; not created: the first push does). */
async function remoteUrl(): Promise<string> {
  return pathToFileURL(join(await tempDir('cairn-remote-'), 'remote')).href;
}

/** A workspace with the example pipeline, `origin` added, and one run per name given. */
async function workspace(url: string, runs: Array<{ name: string; set?: string[] }> = []): Promise<string> {
  const ws = await tempDir('cairn-ws-');
  ok(await cairn(['init', '--example', '-q'], { cwd: ws }), 'init');
  ok(await cairn(['remote', 'add', 'origin', url, '-q'], { cwd: ws }), 'remote add');
  for (const r of runs) ok(await cairn(['exp', 'run', '-n', r.name, ...(r.set ?? []).flatMap((s) => ['-S', s])], { cwd: ws }), `exp run ${r.name}`);
  return ws;
}

async function json<T>(ws: string, args: string[]): Promise<T> {
  const r = await cairn([...args, '--json'], { cwd: ws });
  ok(r, args.join(' '));
  return JSON.parse(r.stdout) as T;
}

interface Listed {
  name: string;
  tip: string;
  parent: string | null;
  checkpoints: number;
}

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

test('push from A, pull into B: exp show equal, exp apply restores bit for bit; a second push sends no object data', async () => {
  const url = await remoteUrl();
  const a = await workspace(url, [{ name: 'first' }]);
  const b = await workspace(url);
  const pushed = await json<{ objects: number; bytes: number; experiments: Array<{ action: string }> }>(a, ['exp', 'push', 'first']);
  assert.equal(pushed.experiments[0].action, 'created');
  assert.ok(pushed.bytes > 0 && pushed.objects > 0);
  const again = await json<{ objects: number; bytes: number; experiments: Array<{ action: string }> }>(a, ['exp', 'push', 'first']);
  assert.deepEqual([again.objects, again.bytes, again.experiments[0].action], [0, 0, 'unchanged']);
  const human = await cairn(['exp', 'push', 'first'], { cwd: a });
  ok(human, 'exp push');
  assert.match(human.stderr + human.stdout, /Sent 0 objects \(.*0 bytes\)/);

  assert.deepEqual(await json(a, ['exp', 'list', '-r', 'origin']), await json(a, ['exp', 'list']));
  ok(await cairn(['exp', 'pull', 'first'], { cwd: b }), 'exp pull');
  const showA = await json<{ experiments: unknown[] }>(a, ['exp', 'show', '--no-pager']);
  const showB = await json<{ experiments: unknown[] }>(b, ['exp', 'show', '--no-pager']);
  assert.deepEqual(showB.experiments, showA.experiments);
  const second = await json<{ objects: number }>(b, ['exp', 'pull', '--all']);
  assert.equal(second.objects, 0);

  // The tip's model and metrics, restored in B, equal what A's run left in its workspace.
  ok(await cairn(['exp', 'apply', 'first', '--force'], { cwd: b }), 'exp apply');
  for (const f of ['model.safetensors', 'metrics.json', 'params.yaml', 'train.py']) assert.equal(await sha(join(b, f)), await sha(join(a, f)), f);
});

test('racing pushes of diverged chains of one name: exactly one wins, the loser exits 1 naming it and keeps its experiment', async () => {
  const url = await remoteUrl();
  const [a, b] = await Promise.all([workspace(url, [{ name: 'x' }]), workspace(url, [{ name: 'x', set: ['lr=20'] }])]);
  const before = await Promise.all([a, b].map((ws) => json<Listed[]>(ws, ['exp', 'list'])));
  const results = await Promise.all([a, b].map((ws) => cairn(['exp', 'push', 'x'], { cwd: ws })));
  const codes = results.map((r) => r.code).sort();
  assert.deepEqual(codes, [0, 1], results.map((r) => r.stderr).join('\n'));
  const loser = results.find((r) => r.code === 1)!;
  assert.match(loser.stderr, /experiment 'x' on remote 'origin' diverged; rename it or pull first/);
  const winner = results.findIndex((r) => r.code === 0);
  const after = await Promise.all([a, b].map((ws) => json<Listed[]>(ws, ['exp', 'list'])));
  assert.deepEqual(after, before, 'nothing local changed');
  assert.deepEqual(await json(a, ['exp', 'list', '-r', 'origin']), before[winner]);
  // Pulling the other's chain into the loser is refused too, with nothing changed.
  const loserWs = [a, b][1 - winner];
  const pull = await cairn(['exp', 'pull', 'x'], { cwd: loserWs });
  assert.equal(pull.code, 1, pull.stderr);
  assert.match(pull.stderr, /^cairn: error: experiment 'x' diverged from remote 'origin'/);
  assert.deepEqual(await json(loserWs, ['exp', 'list']), before[1 - winner]);
  // --force replaces it.
  ok(await cairn(['exp', 'push', 'x', '--force'], { cwd: loserWs }), 'push --force');
  assert.deepEqual(await json(a, ['exp', 'list', '-r', 'origin']), before[1 - winner]);
  ok(await cairn(['exp', 'remove', '-r', 'origin', 'x'], { cwd: a }), 'exp remove -r');
  assert.deepEqual(await json(a, ['exp', 'list', '-r', 'origin']), []);
  const gone = await cairn(['exp', 'remove', '-r', 'origin', 'x'], { cwd: a });
  assert.equal(gone.code, 3, gone.stderr);
});

test('six pushes of different experiments at once all land', async () => {
  const url = await remoteUrl();
  const base = await workspace(url, [{ name: 'base' }]);
  // Six machines: copies of one workspace, each with the experiment under its own name (they share every object).
  const copies = await Promise.all(
    [1, 2, 3, 4, 5, 6].map(async (k) => {
      const ws = await tempDir('cairn-ws-');
      await cp(base, ws, { recursive: true });
      ok(await cairn(['exp', 'rename', 'base', `e${k}`], { cwd: ws }), 'exp rename');
      return ws;
    }),
  );
  const results = await Promise.all(copies.map((ws, i) => cairn(['exp', 'push', `e${i + 1}`], { cwd: ws })));
  for (const r of results) ok(r, 'exp push');
  const listed = await json<Listed[]>(base, ['exp', 'list', '-r', 'origin']);
  assert.deepEqual(listed.map((e) => e.name).sort(), ['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
  // Each is whole: a fresh store pulls them all.
  const fresh = await workspace(url);
  const pulled = await json<{ experiments: Array<{ name: string; checkpoints: number }> }>(fresh, ['exp', 'pull', '--all']);
  assert.equal(pulled.experiments.length, 6);
  for (const e of pulled.experiments) assert.equal(e.checkpoints, 5);
});

test('remote add never writes or prints a secret; a wrong scheme is one error line and exit 2', async () => {
  const ws = await tempDir('cairn-ws-');
  ok(await cairn(['init', '-q'], { cwd: ws }), 'init');
  const secret = 'wJalrXUtnFEMI-K7MDENG-SEKRET';
  const env = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: secret };
  const config = () => readFile(join(ws, '.cairn', 'config.yaml'), 'utf8').catch(() => '');
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const r = await cairn(args, { cwd: ws, env });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  ok(await run(['remote', 'add', 'origin', 's3://my-bucket/cairn', '--endpoint', 'http://127.0.0.1:9000']), 'remote add');
  for (const url of [`s3://AKIAEXAMPLE:${secret}@my-bucket/cairn`, `s3://my-bucket/cairn?X-Amz-Signature=${secret}`]) {
    const r = await run(['remote', 'add', 'leak', url]);
    assert.equal(r.code, 2, r.stderr);
  }
  const endpoint = await run(['remote', 'add', 'leak', 's3://my-bucket/x', '--endpoint', `http://AKIAEXAMPLE:${secret}@127.0.0.1:9000`]);
  assert.equal(endpoint.code, 2);
  const listed = await run(['remote', 'list', '--json']);
  ok(listed, 'remote list');
  assert.deepEqual(JSON.parse(listed.stdout), [{ name: 'origin', url: 's3://my-bucket/cairn', endpoint: 'http://127.0.0.1:9000', default: true }]);
  const text = await config();
  assert.match(text, /s3:\/\/my-bucket\/cairn/);
  for (const out of [text, ...outputs]) {
    assert.ok(!out.includes(secret) && !out.includes('SEKRET'), `a secret leaked: ${out}`);
  }

  const before = await config();
  const wrong = await cairn(['remote', 'add', 'bad', 'ftp://host/path'], { cwd: ws });
  assert.equal(wrong.code, 2);
  assert.equal(wrong.stderr.split('\n').filter((l) => l.startsWith('cairn: error:')).length, 1, wrong.stderr);
  assert.match(wrong.stderr, /^cairn: error: not a remote: 'ftp:\/\/host\/path'/);
  assert.equal(await config(), before);

  // The second remote is not the default unless asked; remove forgets one.
  ok(await cairn(['remote', 'add', 'two', 'file:///tmp/cairn-remote-two', '--default', '-q'], { cwd: ws }), 'remote add --default');
  ok(await cairn(['remote', 'remove', 'origin', '-q'], { cwd: ws }), 'remote remove');
  const rest = await json<Array<{ name: string; default: boolean }>>(ws, ['remote', 'list']);
  assert.deepEqual(rest.map((r) => [r.name, r.default]), [['two', true]]);
  const missing = await cairn(['remote', 'remove', 'origin'], { cwd: ws });
  assert.equal(missing.code, 3);
  const noRemote = await cairn(['exp', 'list', '-r', 'nope'], { cwd: ws });
  assert.equal(noRemote.code, 3);
  assert.deepEqual((await readdir(ws)).sort(), ['.cairn']);
});

test('a remote that refuses a request, or cannot be reached, is one error line naming it (and the HTTP status), exit 1', async () => {
  // An S3 endpoint that answers every request 403, as one with wrong credentials does.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const ws = await tempDir('cairn-ws-');
    ok(await cairn(['init', '-q'], { cwd: ws }), 'init');
    ok(await cairn(['remote', 'add', 'origin', 's3://my-bucket/cairn', '--endpoint', `http://127.0.0.1:${port}`, '-q'], { cwd: ws }), 'remote add');
    const env = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wrong-SEKRET', AWS_REGION: 'us-east-1', AWS_PROFILE: undefined, AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined };
    for (const args of [['exp', 'list', '-r', 'origin'], ['exp', 'pull', '--all']]) {
      const r = await cairn(args, { cwd: ws, env });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('cairn: error:'));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], /s3:\/\/my-bucket\/cairn/);
      assert.match(errors[0], /HTTP 403/);
      assert.ok(!r.stderr.includes('SEKRET'));
    }
  } finally {
    server.close();
  }
  const ws = await tempDir('cairn-ws-');
  ok(await cairn(['init', '-q'], { cwd: ws }), 'init');
  const r = await cairn(['exp', 'list', '-r', 's3://my-bucket/cairn'], { cwd: ws, env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` } });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('cairn: error:')).length, 1, r.stderr);
  assert.match(r.stderr, /^cairn: error: remote s3:\/\/my-bucket\/cairn: /);
});
