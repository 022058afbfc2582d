import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Store } from './index.js';
import { tempDir } from './testing/temp.js';

// No timing asserts: every test orders its events through the child's
// stdin/stdout, so a slow machine only makes it slower.

const STORE_JS = new URL('./index.js', import.meta.url).href;
/** For repositoryOf: the yielder's step-aside count is internal. */
const STORE_IMPL_JS = new URL('./store.js', import.meta.url).href;

async function freshStore(): Promise<{ dir: string; work: string }> {
  const work = await tempDir('cairn-yield-');
  const dir = join(work, 'store');
  await Store.init(dir);
  return { dir, work };
}

/** A child running `code` (an ES module body with `dir`, `say(line)` and `next()` (the next stdin line) in scope); lines it says are queued. */
function child(dir: string, code: string): { proc: ChildProcess; line: () => Promise<string>; send: (s: string) => void; exited: Promise<number | null> } {
  const prelude = `
    const { Store } = await import(${JSON.stringify(STORE_JS)});
    const { repositoryOf } = await import(${JSON.stringify(STORE_IMPL_JS)});
    const dir = ${JSON.stringify(dir)};
    const say = (s) => process.stdout.write(s + '\\n');
    const { createInterface } = await import('node:readline');
    const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const next = async () => (await lines.next()).value;`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', `${prelude}\n${code}\nprocess.exit(0);`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const it = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  return {
    proc,
    line: async () => {
      const r = await it.next();
      if (r.done) throw new Error('the child ended early');
      return r.value;
    },
    send: (s) => proc.stdin!.write(`${s}\n`),
    exited,
  };
}

/** Resolves once a priority waiter's file is in waiting/. */
async function waiterAnnounced(dir: string): Promise<void> {
  for (;;) {
    const names = await readdir(join(dir, 'waiting')).catch(() => [] as string[]);
    if (names.some((n) => /^\d+-[0-9a-f]+$/.test(n))) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a long put steps aside for a priority opener mid-way, leasing what it wrote; it still stores every byte, and gc meanwhile keeps it', async () => {
  const { dir } = await freshStore();
  // The child stores a stream of 1 MiB random pieces until told 'end'; after 24 MiB (some of it stored by then) it pauses until 'go', holding the lock with writes pending.
  const c = child(
    dir,
    `
    const { createHash, randomBytes } = await import('node:crypto');
    const s = await Store.open(dir, { yieldToPriority: true });
    const h = createHash('sha256');
    let ended = false;
    async function* pieces() {
      for (let i = 0; !ended || i < 32; i++) {
        if (i === 24) { say('paused'); await next(); say('going'); next().then(() => (ended = true)); }
        const b = randomBytes(1 << 20);
        h.update(b);
        yield b;
        await new Promise((r) => setImmediate(r));
      }
    }
    const id = await s.putStream(pieces());
    await s.refs.set('store/big', id);
    const yields = repositoryOf(s).yielder.yields;
    await s.close();
    say(JSON.stringify({ id, sha: h.digest('hex'), yields }));`,
  );
  const events: string[] = [];
  try {
    assert.equal(await c.line(), 'paused');
    const ckptData = randomBytes(300 * 1024);
    const waiter = Store.open(dir, { priority: true }).then((s) => (events.push('waiter has the store'), s));
    await waiterAnnounced(dir);
    c.send('go');
    assert.equal(await c.line(), 'going');
    const s = await waiter;
    try {
      // The child is mid-put: it leased what it wrote before letting go.
      const leases = await Store.listLeases(dir);
      const its = leases.find((l) => l.pid === c.proc.pid);
      assert.ok(its && its.roots.length > 0, `the child's lease roots its chunks (${JSON.stringify(leases.map((l) => [l.pid, l.roots.length]))})`);
      // A "checkpoint" meanwhile, then a gc in the same hold: the child's unnamed chunks must survive it.
      const ck = await s.putBuffer(ckptData);
      await s.refs.set('run/tip', ck);
      await s.gc();
    } finally {
      await s.close();
    }
    assert.deepEqual(await readdir(join(dir, 'waiting')), [], 'the waiter removed its file once it had the lock');
    c.send('end');
    const done = JSON.parse(await c.line()) as { id: string; sha: string; yields: number };
    events.push('put finished');
    assert.equal(await c.exited, 0);
    assert.deepEqual(events, ['waiter has the store', 'put finished']);
    assert.ok(done.yields >= 1);
    await Store.with(dir, async (st) => {
      const h = createHash('sha256');
      for await (const b of await st.getStream(done.id)) h.update(b);
      assert.equal(h.digest('hex'), done.sha, 'bit for bit');
      assert.deepEqual(await st.getBuffer(await st.refs.get('run/tip') as string), ckptData);
      const report = await st.verify({ readData: true });
      assert.deepEqual(report.problems, [], 'fsck --read-data is clean');
    });
    assert.deepEqual(await Store.listLeases(dir), [], 'its lease went with its session');
  } finally {
    c.proc.kill('SIGKILL');
  }
});

test('gc steps aside between pack rewrites and marks again: what a run named meanwhile, even an object gc had found dead, is kept', async () => {
  const { dir, work } = await freshStore();
  const keep = randomBytes(3 * 1024 * 1024);
  const dead = Array.from({ length: 4 }, () => randomBytes(1024 * 1024 + 17));
  await writeFile(join(work, 'keep'), keep);
  // One pack: the named file and four unnamed ones (mostly dead, so gc rewrites it, moving the live blobs one by one).
  const { keepId, deadIds } = await Store.with(dir, async (s) => {
    const keepId = await s.putPath(join(work, 'keep'));
    const deadIds: string[] = [];
    for (const d of dead) deadIds.push(await s.putBuffer(d));
    await s.refs.set('store/keep', keepId);
    return { keepId, deadIds };
  });
  const c = child(
    dir,
    `
    const s = await Store.open(dir, { yieldToPriority: true });
    say('open');
    await next();
    const report = await s.gc();
    const yields = repositoryOf(s).yielder.yields;
    await s.close();
    say(JSON.stringify({ report, yields }));`,
  );
  try {
    assert.equal(await c.line(), 'open');
    const waiter = Store.open(dir, { priority: true });
    await waiterAnnounced(dir);
    c.send('go');
    const s = await waiter;
    try {
      // gc has marked dead[0] dead but not deleted it yet; a run stores the same bytes (deduplicated: nothing new is written) and names them.
      assert.equal(await s.has(deadIds[0]), true);
      assert.equal(await s.putBuffer(dead[0]), deadIds[0]);
      await s.refs.set('run/tip', deadIds[0]);
    } finally {
      await s.close();
    }
    const { report, yields } = JSON.parse(await c.line()) as { report: { deadObjects: number; packsRewritten: number }; yields: number };
    assert.equal(await c.exited, 0);
    assert.ok(yields >= 1, 'gc stepped aside');
    assert.ok(report.packsRewritten >= 1 && report.deadObjects > 0, JSON.stringify(report));
    await Store.with(dir, async (st) => {
      assert.deepEqual(await st.getBuffer(keepId), keep);
      assert.deepEqual(await st.getBuffer(deadIds[0]), dead[0], 'revived by the run while gc stood aside: kept');
      for (const id of deadIds.slice(1)) assert.equal(await st.has(id), false, 'the rest is collected');
      assert.deepEqual((await st.verify({ readData: true })).problems, []);
    });
  } finally {
    c.proc.kill('SIGKILL');
  }
});

test('an ordinary opener defers to a live priority waiter; a dead waiter file is ignored and removed', async () => {
  const { dir } = await freshStore();
  const holder = child(dir, `const s = await Store.open(dir); say('open'); await next(); await s.close(); say('closed');`);
  const events: string[] = [];
  try {
    assert.equal(await holder.line(), 'open');
    const waiter = Store.open(dir, { priority: true }).then((s) => (events.push('priority'), s));
    await waiterAnnounced(dir);
    // Starts after the waiter announced itself, so it must not get the store first.
    const ordinary = Store.open(dir).then((s) => (events.push('ordinary'), s));
    holder.send('release');
    assert.equal(await holder.line(), 'closed');
    const w = await waiter;
    await w.close();
    await (await ordinary).close();
    assert.deepEqual(events, ['priority', 'ordinary']);
  } finally {
    holder.proc.kill('SIGKILL');
  }
  // A waiter file of a process that is gone holds nobody back.
  await writeFile(join(dir, 'waiting', '999999999-abcdef'), JSON.stringify({ pid: 999999999, start: '1', host: 'x', boot: null }));
  await (await Store.open(dir, { lockTimeoutMs: 10_000 })).close();
  assert.deepEqual(await readdir(join(dir, 'waiting')), []);
});
