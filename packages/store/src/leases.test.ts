import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { Store, currentHolder, isCairnError } from './index.js';
import { tempDir } from './testing/temp.js';
import { listPackFiles } from './packfiles.js';

async function freshStore(): Promise<{ dir: string; work: string }> {
  const work = await tempDir('cairn-lease-');
  const dir = join(work, 'store');
  await Store.init(dir);
  return { dir, work };
}

const STORE_JS = new URL('./index.js', import.meta.url).href;

/** Another process that takes a lease on `refs`/`roots` and holds it until killed; resolves once the lease is written. */
async function leaseInChild(dir: string, terms: { refs?: string[]; roots?: string[]; note?: string }): Promise<ChildProcess> {
  const code = `
    const { Store } = await import(${JSON.stringify(STORE_JS)});
    const s = await Store.open(${JSON.stringify(dir)});
    await s.takeLease(${JSON.stringify(terms)});
    await s.close();
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.on('exit', (c) => reject(new Error(`lease child exited ${c}`)));
  });
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('gc keeps what a live lease roots, unnamed by any ref, and collects it once the lease is released', async () => {
  const { dir, work } = await freshStore();
  const src = join(work, 'dep.bin');
  const data = randomBytes(300 * 1024);
  await writeFile(src, data);
  const { id, lease } = await Store.with(dir, async (s) => {
    const id = await s.putPath(src);
    return { id, lease: await s.takeLease({ roots: [id], note: 'test' }) };
  });
  const kept = await Store.with(dir, (s) => s.gc());
  assert.equal(kept.deadObjects, 0, 'nothing leased is dead');
  assert.deepEqual(await Store.with(dir, (s) => s.getBuffer(id)), data);
  await lease.release();
  const r = await Store.with(dir, (s) => s.gc());
  assert.ok(r.deadObjects > 0, 'released: the objects go');
  assert.equal(await Store.with(dir, (s) => s.has(id)), false);
});

test('a ref leased by another live process cannot be set or deleted (LOCKED, naming the process); the holder itself can', async () => {
  const { dir } = await freshStore();
  const id = await Store.with(dir, (s) => s.putBuffer(Buffer.from('x')));
  await Store.with(dir, (s) => s.refs.set('exp/a', id));
  const child = await leaseInChild(dir, { refs: ['exp/a', 'exp/b'], note: "exp run of 'a'" });
  try {
    for (const op of [(s: Store) => s.refs.set('exp/a', id), (s: Store) => s.refs.delete('exp/a'), (s: Store) => s.refs.set('exp/b', id, null)]) {
      await assert.rejects(
        Store.with(dir, op),
        (err: unknown) => isCairnError(err, 'LOCKED') && err.message.includes(`process ${child.pid}`) && err.message.includes("exp run of 'a'"),
      );
    }
    await Store.with(dir, (s) => s.refs.set('exp/c', id)); // not leased
    const leases = await Store.listLeases(dir);
    assert.deepEqual(leases.map((l) => [l.pid, l.refs]), [[child.pid, ['exp/a', 'exp/b']]]);
  } finally {
    await stop(child);
  }
  // Its holder is gone: the lease is dead, removed by whoever lists, and the ref is free.
  await Store.with(dir, (s) => s.refs.set('exp/a', id));
  assert.deepEqual(await Store.listLeases(dir), []);
  assert.deepEqual(await readdir(join(dir, 'leases')), []);

  // This process's own lease does not stop it.
  const mine = await Store.with(dir, (s) => s.takeLease({ refs: ['exp/a'] }));
  await Store.with(dir, (s) => s.refs.delete('exp/a'));
  await mine.release();
});

test('a lease naming this PID with another start time (a reused PID) is dead and removed', async () => {
  const { dir } = await freshStore();
  const me = currentHolder();
  await Store.with(dir, (s) => s.takeLease({ refs: ['exp/x'] })).then((l) => l.release());
  const forged = { ...me, start: me.start === null ? null : String(Number(me.start) + 12345), refs: ['exp/x'], roots: [], note: '', created: '' };
  const host = { ...forged, host: `${me.host}-elsewhere`, start: me.start };
  await writeFile(join(dir, 'leases', `${process.pid}-aaaaaa.json`), JSON.stringify(forged));
  await writeFile(join(dir, 'leases', `${process.pid}-bbbbbb.json`), JSON.stringify(host));
  await writeFile(join(dir, 'leases', '999999999-cccccc.json.tmp-0123456789ab'), '{"pid":');
  if (me.start !== null) {
    assert.deepEqual(await Store.listLeases(dir), []);
    assert.deepEqual(await readdir(join(dir, 'leases')), []);
  }
});

test('a detached copy reads its objects with the store closed, even after gc unlinked their pack, and writes nothing', async () => {
  const { dir, work } = await freshStore();
  const data = randomBytes(2 * 1024 * 1024 + 5);
  await writeFile(join(work, 'f'), data);
  const id = await Store.with(dir, (s) => s.putPath(join(work, 'f')));
  const reader = await Store.with(dir, async (s) => s.detach(await s.reachable([id])));
  try {
    // The store is free: another session opens it at once and collects the unnamed file.
    await Store.with(dir, (s) => s.gc(), { lockTimeoutMs: 0 });
    assert.deepEqual(await listPackFiles(join(dir, 'packs')), [], 'the pack is gone from the folder');
    assert.deepEqual(await reader.getBuffer(id), data);
    await reader.getToPath(id, join(work, 'out'));
    assert.deepEqual(await readFile(join(work, 'out')), data);
    await assert.rejects(reader.putBuffer(Buffer.from('y')), /read-only/);
    await assert.rejects(reader.refs.set('x', id), /read-only/);
  } finally {
    await reader.close();
  }
});
