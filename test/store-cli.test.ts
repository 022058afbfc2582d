import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cairn, startCairn, collect, tempDir } from './lib/cli.js';

test('init, add, get, cat, ls, stats round-trip through the CLI', async () => {
  const ws = await tempDir();
  assert.equal((await cairn(['init'], { cwd: ws })).code, 0);
  const data = randomBytes(3 * 1024 * 1024 + 5);
  await writeFile(join(ws, 'model.bin'), data);
  await mkdir(join(ws, 'logs'));
  await writeFile(join(ws, 'logs', 'a.txt'), 'hello\n');
  const add = await cairn(['store', 'add', 'model.bin', 'logs'], { cwd: ws });
  assert.equal(add.code, 0, add.stderr);
  const lines = add.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  const [fileId] = lines[0].split(/\s+/);
  const [treeId] = lines[1].split(/\s+/);
  assert.match(fileId, /^[0-9a-f]{64}$/);
  const get = await cairn(['store', 'get', fileId.slice(0, 8), 'restored.bin'], { cwd: ws });
  assert.equal(get.code, 0, get.stderr);
  assert.deepEqual(await readFile(join(ws, 'restored.bin')), data);
  const cat = await cairn(['store', 'cat', treeId.slice(0, 10)], { cwd: ws });
  assert.match(cat.stdout, /a\.txt/);
  const named = await cairn(['store', 'add', '--name', 'hello', 'logs/a.txt'], { cwd: ws });
  assert.equal(named.code, 0);
  assert.equal((await cairn(['store', 'cat', 'hello'], { cwd: ws })).stdout, 'hello\n');
  const ls = await cairn(['store', 'ls', '--json'], { cwd: ws });
  assert.equal(JSON.parse(ls.stdout).length, 3);
  const stats = JSON.parse((await cairn(['store', 'stats', '--json'], { cwd: ws })).stdout);
  assert.ok(stats.logicalBytes >= data.length);
  assert.ok(stats.packs >= 1);
  // Adding the same file again stores nothing new.
  await cairn(['store', 'add', 'model.bin'], { cwd: ws });
  const again = JSON.parse((await cairn(['store', 'stats', '--json'], { cwd: ws })).stdout);
  assert.equal(again.storedBytes, stats.storedBytes);
});

test('the store is found in a parent folder, or through --store and CAIRN_STORE', async () => {
  const ws = await tempDir();
  await cairn(['init'], { cwd: ws });
  await mkdir(join(ws, 'deep', 'er'), { recursive: true });
  await writeFile(join(ws, 'deep', 'er', 'f'), 'x');
  const r = await cairn(['store', 'add', 'f', '--json'], { cwd: join(ws, 'deep', 'er') });
  assert.equal(r.code, 0, r.stderr);
  const other = await tempDir();
  assert.equal((await cairn(['--store', join(other, 's'), 'init'], { cwd: other })).code, 0);
  assert.equal((await cairn(['store', 'add', join(ws, 'deep', 'er', 'f')], { cwd: '/', env: { CAIRN_STORE: join(other, 's') } })).code, 0);
  const nowhere = await tempDir();
  const miss = await cairn(['store', 'ls'], { cwd: nowhere });
  assert.equal(miss.code, 3);
  assert.match(miss.stderr, /^cairn: error: no cairn store/);
});

test('bad input: one clear line and the right exit code', async () => {
  const ws = await tempDir();
  await cairn(['init'], { cwd: ws });
  const unknownId = await cairn(['store', 'get', 'deadbeef', 'x'], { cwd: ws });
  assert.equal(unknownId.code, 3);
  assert.match(unknownId.stderr, /^cairn: error: /);
  assert.doesNotMatch(unknownId.stderr, /at .*\.js/);
  const badFlag = await cairn(['store', 'add', 'x', '--bogus'], { cwd: ws });
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /^cairn: error: unknown option --bogus\n/);
  const missing = await cairn(['store', 'add', 'no-such-file'], { cwd: ws });
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /no such file or folder: no-such-file/);
  assert.equal((await cairn(['frobnicate'], { cwd: ws })).code, 2);
  // A near-miss names the word and the command meant.
  const typo = await cairn(['exp', 'imprt', 'x.tar'], { cwd: ws });
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr, "cairn: error: unknown command 'imprt'; did you mean import?\nhint: see cairn exp --help\n");
  assert.equal((await cairn(['--help'], { cwd: ws })).code, 0);
  assert.equal((await cairn(['store', 'add', '--help'], { cwd: ws })).code, 0);
});

test('fsck finds a flipped byte, and --repair rebuilds a deleted index', async () => {
  const ws = await tempDir();
  await cairn(['init'], { cwd: ws });
  const data = randomBytes(2 * 1024 * 1024);
  await writeFile(join(ws, 'm'), data);
  const id = (await cairn(['store', 'add', 'm'], { cwd: ws })).stdout.split(/\s+/)[0];
  assert.equal((await cairn(['fsck', '--read-data'], { cwd: ws })).code, 0);
  await rm(join(ws, '.cairn', 'index'), { recursive: true });
  const repair = await cairn(['fsck', '--repair'], { cwd: ws });
  assert.equal(repair.code, 0, repair.stdout + repair.stderr);
  await cairn(['store', 'get', id, 'back'], { cwd: ws });
  assert.deepEqual(await readFile(join(ws, 'back')), data);
  const ls = JSON.parse((await cairn(['store', 'ls', '--json'], { cwd: ws })).stdout);
  const packsDir = join(ws, '.cairn', 'packs');
  const { readdir } = await import('node:fs/promises');
  const sub = (await readdir(packsDir)).find((d) => d !== 'tmp')!;
  const pack = join(packsDir, sub, (await readdir(join(packsDir, sub)))[0]);
  const size = (await stat(pack)).size;
  const fh = await open(pack, 'r+');
  const at = Math.floor(size / 2);
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  await fh.write(Buffer.from([b[0] ^ 0x80]), 0, 1, at);
  await fh.close();
  const bad = await cairn(['fsck'], { cwd: ws });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /damaged/);
  assert.equal(ls.length, 1);
});

test('a store held by another process: wait, then exit 4', async () => {
  const ws = await tempDir();
  await cairn(['init'], { cwd: ws });
  const { Store } = await import('@cairn/store');
  const held = await Store.open(join(ws, '.cairn'));
  try {
    const r = await cairn(['store', 'ls'], { cwd: ws, env: { CAIRN_LOCK_TIMEOUT: '0.3' } });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /locked/);
  } finally {
    await held.close();
  }
});

test('kill -9 during store add at random moments never damages the store', async () => {
  const ws = await tempDir();
  await cairn(['init'], { cwd: ws });
  const earlier: Array<{ id: string; data: Buffer }> = [];
  for (let i = 0; i < 3; i++) {
    const data = randomBytes(1024 * 1024 + i);
    await writeFile(join(ws, `e${i}`), data);
    earlier.push({ id: (await cairn(['store', 'add', `e${i}`], { cwd: ws })).stdout.split(/\s+/)[0], data });
  }
  const big = join(ws, 'big');
  await writeFile(big, randomBytes(48 * 1024 * 1024));
  for (let round = 0; round < 20; round++) {
    // Change part of the file each round, so every add writes new chunks.
    const fh = await open(big, 'r+');
    await fh.write(randomBytes(8 * 1024 * 1024), 0, 8 * 1024 * 1024, (round % 5) * 8 * 1024 * 1024);
    await fh.close();
    const child = startCairn(['store', 'add', 'big'], { cwd: ws });
    const done = collect(child);
    await new Promise((r) => setTimeout(r, 40 + Math.random() * 400));
    child.kill('SIGKILL');
    const r = await done;
    if (r.code === 0) earlier.push({ id: r.stdout.split(/\s+/)[0], data: await readFile(big) });
  }
  const fsck = await cairn(['fsck', '--read-data'], { cwd: ws });
  assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  for (const e of earlier) {
    const out = join(ws, 'out');
    const g = await cairn(['store', 'get', e.id, 'out'], { cwd: ws });
    assert.equal(g.code, 0, g.stderr);
    assert.deepEqual(await readFile(out), e.data);
  }
});
