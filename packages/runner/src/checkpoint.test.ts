import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { makeCheckpoint, parseMetricArgs, resolveSignalPath, signalCheckpoint } from './checkpoint.js';
import { buildRunEnv } from './env.js';
import { CairnError } from './errors.js';
import { SignalWatcher, dvcSignalPath, prepareDvcTmp } from './signal.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-checkpoint-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runPython(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function runEnv(signalPath: string, extra: Partial<Parameters<typeof buildRunEnv>[0]> = {}): Record<string, string> {
  return buildRunEnv({ root: dir, expName: 'exp-12345', step: 0, resume: false, signalPath, ...extra });
}

describe('parseMetricArgs', () => {
  it('reads values as YAML scalars', () => {
    assert.deepEqual(parseMetricArgs(['acc=0.97', 'ok=true', 'name=resnet 50', 'n=3', 'train.loss=1e-3', 'e=']), {
      acc: 0.97,
      ok: true,
      name: 'resnet 50',
      n: 3,
      'train.loss': 0.001,
      e: null,
    });
  });
  it('refuses malformed arguments', () => {
    const bad = (e: unknown) => e instanceof CairnError && e.code === 'BAD_INPUT';
    assert.throws(() => parseMetricArgs(['acc']), (e: unknown) => bad(e) && /bad --metric 'acc' has no '='/.test((e as Error).message));
    assert.throws(() => parseMetricArgs(['=1']), bad);
    assert.throws(() => parseMetricArgs(['a=[1, 2]']), /not a single value/);
  });
});

describe('makeCheckpoint (Node)', () => {
  it('is a no-op outside a run', async () => {
    const t0 = performance.now();
    assert.equal(await makeCheckpoint({ env: {} }), false);
    assert.equal(await signalCheckpoint({ PATH: '/bin' }, { acc: 1 }), false);
    assert.ok(performance.now() - t0 < 50);
  });

  it('finds the signal path like the Python helper', () => {
    assert.equal(resolveSignalPath({ CAIRN_CHECKPOINT_SIGNAL: '/x/sig', DVC_CHECKPOINT: '1', DVC_ROOT: '/r' }), '/x/sig');
    assert.equal(resolveSignalPath({ DVC_CHECKPOINT: '1', DVC_ROOT: '/r' }), dvcSignalPath('/r'));
    assert.equal(resolveSignalPath({ DVC_ROOT: '/r' }), undefined);
  });

  it('waits for the acknowledgement and carries metrics', async () => {
    const sig = path.join(dir, 'node-signal');
    const w = new SignalWatcher([sig]);
    await w.start();
    try {
      const served = (async () => {
        const s = await w.next();
        await w.ack(s!);
        return s!;
      })();
      const t0 = performance.now();
      assert.equal(await makeCheckpoint({ env: { CAIRN_CHECKPOINT_SIGNAL: sig }, metrics: { acc: 0.5 }, step: 2 }), true);
      console.log(`Node makeCheckpoint round trip: ${(performance.now() - t0).toFixed(2)} ms`);
      assert.deepEqual((await served).payload, { metrics: { acc: 0.5 }, step: 2 });
      assert.equal(existsSync(sig), false);

      const refused = (async () => {
        const s = await w.next();
        await w.fail(s!, 'disk full');
      })();
      await assert.rejects(
        signalCheckpoint({ CAIRN_CHECKPOINT_SIGNAL: sig }, parseMetricArgs(['acc=1'])),
        (e: unknown) => e instanceof CairnError && e.code === 'FAILED' && e.message === 'checkpoint failed: disk full',
      );
      await refused;
    } finally {
      await w.close();
    }
  });
});

describe('python/cairn.py', () => {
  it('round-trips make_checkpoint through the watcher', async () => {
    const sig = path.join(dir, 'py', 'signal');
    await mkdir(path.dirname(sig));
    const w = new SignalWatcher([sig]);
    await w.start();
    const payloads: unknown[] = [];
    const serving = (async () => {
      for await (const s of w) {
        payloads.push(s.payload);
        await w.ack(s);
      }
    })();
    try {
      const script = [
        'import json, time',
        'from cairn import make_checkpoint, is_resume',
        'times = []',
        'for i in range(10):',
        '    t0 = time.perf_counter()',
        '    make_checkpoint(metrics={"acc": 0.5 + i / 100, "loss": float("nan"), "nested": {"x": i}}, step=i)',
        '    times.append((time.perf_counter() - t0) * 1000)',
        'print(json.dumps({"times": times, "resume": is_resume()}))',
      ].join('\n');
      const r = await runPython(script, runEnv(sig, { resume: true }));
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { times: number[]; resume: boolean };
      assert.equal(out.resume, true);
      const sorted = [...out.times].sort((a, b) => a - b);
      console.log(
        `python make_checkpoint round trip (write, notice, ack, script sees it gone), 10 calls: median ${sorted[5].toFixed(2)} ms, max ${sorted[9].toFixed(2)} ms`,
      );
      assert.ok(sorted[5] < 1000);
      assert.equal(payloads.length, 10);
      const p3 = payloads[3] as { metrics: Record<string, unknown>; step: number };
      assert.equal(p3.step, 3);
      assert.equal(p3.metrics.acc, 0.53);
      assert.ok(Number.isNaN(p3.metrics.loss));
      assert.deepEqual(p3.metrics.nested, { x: 3 });
    } finally {
      await w.close();
      await serving;
    }
  });

  it('is a no-op without the environment', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: runEnv('/unused').PYTHONPATH };
    for (const k of ['CAIRN_CHECKPOINT_SIGNAL', 'DVC_CHECKPOINT', 'DVC_ROOT', 'CAIRN_RESUME']) delete env[k];
    const script = [
      'import time',
      'from cairn import make_checkpoint, is_resume, signal_path',
      't0 = time.perf_counter()',
      'make_checkpoint(metrics={"acc": 1})',
      'assert signal_path() is None and not is_resume()',
      'print((time.perf_counter() - t0) * 1000)',
    ].join('\n');
    const r = await runPython(script, env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Number(r.stdout) < 50, r.stdout);
  });

  it('raises RuntimeError with the reason when cairn refuses', async () => {
    const sig = path.join(dir, 'py-fail-signal');
    const w = new SignalWatcher([sig]);
    await w.start();
    try {
      const refusing = (async () => {
        const s = await w.next();
        await w.fail(s!, 'cannot store model.pt: No space left on device');
      })();
      const script = [
        'from cairn import make_checkpoint',
        'try:',
        '    make_checkpoint()',
        'except RuntimeError as e:',
        '    print(e)',
        '    raise SystemExit(3)',
      ].join('\n');
      const r = await runPython(script, runEnv(sig));
      await refusing;
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout.trim(), 'cairn: checkpoint failed: cannot store model.pt: No space left on device');
    } finally {
      await w.close();
    }
  });

  it('rejects metrics that are not JSON values at the call', async () => {
    const r = await runPython('from cairn import make_checkpoint\nmake_checkpoint(metrics={"a": object()})', runEnv(path.join(dir, 'never')));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /TypeError: cairn: metric 'metrics.a' is a object/);
  });

  it("uses DVC's signal path when only DVC's variables are set", async () => {
    const root = path.join(dir, 'dvcroot');
    await mkdir(root);
    const cleanup = await prepareDvcTmp(root);
    const w = new SignalWatcher([dvcSignalPath(root)]);
    await w.start();
    try {
      const served = (async () => {
        const s = await w.next();
        await w.ack(s!);
        return s!;
      })();
      const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: runEnv('/unused').PYTHONPATH, DVC_CHECKPOINT: '1', DVC_ROOT: root };
      delete env.CAIRN_CHECKPOINT_SIGNAL;
      const r = await runPython('from cairn import make_checkpoint\nmake_checkpoint(metrics={"acc": 0.1})', env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((await served).payload, { metrics: { acc: 0.1 } });
    } finally {
      await w.close();
      await cleanup();
    }
    assert.equal(existsSync(path.join(root, '.dvc')), false);
  });

  it('stops waiting when the cairn process is gone', async () => {
    const sig = path.join(dir, 'orphan-signal');
    // A PID that has exited: a short-lived child's.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    const t0 = performance.now();
    const r = await runPython('from cairn import make_checkpoint\nmake_checkpoint()', runEnv(sig, { cairnPid: dead.pid }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the cairn process \(pid \d+\) is gone/);
    assert.ok(performance.now() - t0 < 5000);
  });
});
