import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, beforeEach, describe, it } from 'node:test';
import { SignalWatcher, dvcSignalPath, errorPathFor, prepareDvcTmp } from './signal.js';

let dir: string;
const dirs: string[] = [];
const watchers: SignalWatcher[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-signal-'));
  dirs.push(dir);
});
after(async () => {
  for (const w of watchers) await w.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function started(paths: string[], opts = {}): Promise<SignalWatcher> {
  const w = new SignalWatcher(paths, opts);
  watchers.push(w);
  await w.start();
  return w;
}

/** Writes like the helpers do: a temporary file renamed onto the signal. */
async function signalAtomically(p: string, content: string): Promise<void> {
  const tmp = `${p}.${Math.random().toString(16).slice(2)}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, p);
}

/**
 * The timer is left ref'd on purpose: the watcher's own handles do not keep
 * a process alive (in cairn the training's child process does), so with an
 * unref'd timer a signal found by the slow poll instead of fs.watch ended
 * the test's event loop first ("Promise resolution is still pending") under
 * load. Cleared once settled, so a passing test does not wait it out.
 */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('SignalWatcher', () => {
  it('notices a new signal file in a few ms, not a polling interval', async () => {
    const sig = path.join(dir, 'signal');
    // A poll period this long means only the watch notification can be fast.
    const w = await started([sig], { pollMs: 5000 });
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await signalAtomically(sig, JSON.stringify({ step: i }));
      const s = await withTimeout(w.next(), 5000, 'signal');
      samples.push(performance.now() - t0);
      assert.ok(s);
      assert.deepEqual(s.payload, { step: i });
      await w.ack(s);
      assert.equal(existsSync(sig), false);
    }
    samples.sort((a, b) => a - b);
    const median = samples[samples.length >> 1];
    console.log(
      `signal latency (file renamed into place -> next() resolves), 20 samples: median ${median.toFixed(2)} ms, max ${samples[samples.length - 1].toFixed(2)} ms`,
    );
    assert.ok(median < 1000, `median latency ${median} ms`);
  });

  it('reads the DVC-style empty file as an empty payload', async () => {
    const sig = path.join(dir, 'DVC_CHECKPOINT');
    const w = await started([sig]);
    const t0 = performance.now();
    // Written the way DVC's make_checkpoint() does: open, fsync, close.
    const fh = await open(sig, 'w');
    await fh.sync();
    await fh.close();
    const t1 = performance.now();
    const s = await withTimeout(w.next(), 5000, 'signal');
    const t2 = performance.now();
    console.log(`empty (DVC-style) signal file: writer's open+fsync+close ${(t1 - t0).toFixed(2)} ms, then next() resolves ${(t2 - t1).toFixed(2)} ms later`);
    assert.deepEqual(s!.payload, {});
    assert.equal(s!.error, undefined);
    await w.ack(s!);
  });

  it('waits for content written in two steps', async () => {
    const sig = path.join(dir, 'signal');
    const w = await started([sig]);
    await writeFile(sig, '{"metrics": {"acc": 0.9');
    setTimeout(() => void writeFile(sig, '{"metrics": {"acc": 0.97}, "step": 3}'), 30);
    const s = await withTimeout(w.next(), 5000, 'signal');
    assert.deepEqual(s!.payload, { metrics: { acc: 0.97 }, step: 3 });
    await w.ack(s!);
  });

  it('reports malformed content, and fail() writes the error before deleting', async () => {
    const sig = path.join(dir, 'signal');
    const w = await started([sig], { maxSettleMs: 30 });
    await signalAtomically(sig, '{"metrics": [1, 2]}');
    const s1 = await withTimeout(w.next(), 5000, 'signal');
    assert.match(s1!.error!, /'metrics' in the signal file must be an object/);
    await w.fail(s1!, 'bad payload');
    assert.equal(existsSync(sig), false);
    assert.equal(await readFile(errorPathFor(sig), 'utf8'), 'bad payload\n');
    await rm(errorPathFor(sig));
    await signalAtomically(sig, 'not json');
    const s2 = await withTimeout(w.next(), 5000, 'signal');
    assert.match(s2!.error!, /^malformed signal file: /);
    assert.deepEqual(s2!.payload, {});
    await w.ack(s2!);
  });

  it('serves signals one at a time, from several paths, in order', async () => {
    const a = path.join(dir, 'a', 'signal');
    const b = path.join(dir, 'b', 'DVC_CHECKPOINT');
    await mkdir(path.dirname(a));
    await mkdir(path.dirname(b));
    const w = await started([a, b]);
    await signalAtomically(a, '{"step": 1}');
    const s1 = await withTimeout(w.next(), 5000, 'first');
    // Arrives while the first is being processed.
    await signalAtomically(b, '{"step": 2}');
    await new Promise((r) => setTimeout(r, 20));
    const s2 = await withTimeout(w.next(), 5000, 'second');
    assert.equal(s1!.path, a);
    assert.equal(s2!.path, b);
    // The first path is busy until acked: a rewrite does not produce a duplicate.
    await writeFile(a, '{"step": 1}');
    const third = w.next();
    const none = await Promise.race([third, new Promise((r) => setTimeout(() => r('none'), 50))]);
    assert.equal(none, 'none');
    await w.ack(s1!);
    await w.ack(s2!);
    // The ack deleted the rewritten file too, as the writer would have waited.
    await signalAtomically(a, '{"step": 3}');
    const s3 = await withTimeout(third, 5000, 'third');
    assert.deepEqual(s3!.payload, { step: 3 });
    await w.ack(s3!);
  });

  it('removes stale signals at start and iterates until closed', async () => {
    const sig = path.join(dir, 'signal');
    await writeFile(sig, '{}');
    await writeFile(errorPathFor(sig), 'old');
    const w = await started([sig]);
    assert.equal(existsSync(sig), false);
    assert.equal(existsSync(errorPathFor(sig)), false);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const s of w) {
        seen.push(s.payload.step!);
        await w.ack(s);
        if (seen.length === 2) void w.close();
      }
    })();
    await signalAtomically(sig, '{"step": 0}');
    while (existsSync(sig)) await new Promise((r) => setTimeout(r, 1));
    await signalAtomically(sig, '{"step": 1}');
    await withTimeout(loop, 5000, 'iteration');
    assert.deepEqual(seen, [0, 1]);
    assert.equal(await w.next(), null);
  });

  it('falls back to polling when the folder appears later', async () => {
    const sig = path.join(dir, 'later', 'signal');
    const w = await started([sig], { pollMs: 20 });
    await mkdir(path.dirname(sig));
    await new Promise((r) => setTimeout(r, 60));
    await signalAtomically(sig, '{"step": 7}');
    const s = await withTimeout(w.next(), 5000, 'signal');
    assert.equal(s!.payload.step, 7);
    await w.ack(s!);
  });
});

describe('prepareDvcTmp', () => {
  it('creates .dvc/tmp and removes only what it created', async () => {
    const cleanup = await prepareDvcTmp(dir);
    assert.ok(existsSync(path.join(dir, '.dvc', 'tmp')));
    await writeFile(dvcSignalPath(dir), '');
    await cleanup();
    assert.equal(existsSync(path.join(dir, '.dvc')), false);
  });

  it('keeps an existing .dvc and anything the user put there', async () => {
    await mkdir(path.join(dir, '.dvc'));
    await writeFile(path.join(dir, '.dvc', 'config'), '');
    const cleanup = await prepareDvcTmp(dir);
    await cleanup();
    assert.ok(existsSync(path.join(dir, '.dvc', 'config')));
    assert.equal(existsSync(path.join(dir, '.dvc', 'tmp')), false);

    await mkdir(path.join(dir, '.dvc', 'tmp'));
    await writeFile(path.join(dir, '.dvc', 'tmp', 'keep'), '');
    await (await prepareDvcTmp(dir))();
    assert.ok(existsSync(path.join(dir, '.dvc', 'tmp', 'keep')));
  });

  it('leaves a created folder that gained other files', async () => {
    const cleanup = await prepareDvcTmp(dir);
    await writeFile(path.join(dir, '.dvc', 'tmp', 'other'), '');
    await cleanup();
    assert.ok(existsSync(path.join(dir, '.dvc', 'tmp', 'other')));
  });
});
