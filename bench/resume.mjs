// Signal-to-resume latency of a real `cairn exp run` (SPEC: "the wait
// between the file appearing and its deletion, for a 10 MB model, must be
// well under 100 ms"). A workspace with a one-stage cairn.yaml runs
// bench/resume_train.py, which writes an out of the given size and times
// every make_checkpoint() call; the baseline is cp + fsync of that out.

import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize, fmtBytes } from './gen-safetensors.mjs';
import { run, summarize, settle, cpFsync, warmRead, dirBytes, rmrf } from './measure.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** "10MiB:21,1GiB:4" → [{ size, checkpoints, label }]. */
export function parseResumeSpec(text) {
  return String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [size, n] = s.split(':');
      const checkpoints = Number(n ?? 11);
      if (!Number.isInteger(checkpoints) || checkpoints < 2) throw new Error(`--resume ${s}: need SIZE:CHECKPOINTS with at least 2 checkpoints`);
      return { size: parseSize(size), checkpoints, label: size };
    });
}

/** Nearest-rank percentile. */
export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[Math.max(0, Math.ceil((p / 100) * v.length) - 1)] : NaN;
}

export const PIPELINE = `stages:
  train:
    cmd: python3 train.py
    deps:
      - train.py
    outs:
      - model.bin:
          checkpoint: true
`;

export async function runResume({ root, workRoot, spec, reps, log, keep = false }) {
  const cli = join(root, 'packages/cli/bin/cairn.js');
  const out = [];
  for (const { size, checkpoints, label } of spec) {
    // Large outs: a tenth rewritten per checkpoint (frozen-backbone-like); small ones fully rewritten (the worst case).
    const change = size > 256 * 1024 * 1024 ? 0.1 : 1;
    const ws = join(workRoot, `resume-${label}-${process.pid}`);
    await rmrf(ws);
    await mkdir(ws, { recursive: true });
    log(`\n== signal-to-resume: ${fmtBytes(size)} out, ${change === 1 ? 'fully' : `${change * 100}%`} rewritten before each of ${checkpoints} make_checkpoint() calls`);
    try {
      await writeFile(join(ws, 'cairn.yaml'), PIPELINE);
      await copyFile(join(HERE, 'resume_train.py'), join(ws, 'train.py'));
      const env = { ...process.env };
      for (const k of Object.keys(env)) if (k.startsWith('CAIRN_') || k.startsWith('DVC_')) delete env[k];
      const init = await run(process.execPath, [cli, 'init', '-q'], { cwd: ws, env });
      if (init.code !== 0) throw new Error(`cairn init failed: ${init.stderr}`);
      const resultFile = join(ws, 'latencies.json');
      Object.assign(env, { BENCH_SIZE: String(size), BENCH_CHECKPOINTS: String(checkpoints), BENCH_CHANGE: String(change), BENCH_RESULT: resultFile });
      await settle(ws);
      const r = await run(process.execPath, [cli, 'exp', 'run'], { cwd: ws, env });
      if (r.code !== 0) throw new Error(`cairn exp run exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      const recorded = (r.stdout.match(/Checkpoint experiment iteration/g) ?? []).length;
      const lat = JSON.parse(await readFile(resultFile, 'utf8')).latencies_ms;
      const steady = lat.slice(1);
      // Baseline: cp + fsync of the out as it is now.
      const model = join(ws, 'model.bin');
      warmRead([model]);
      const cps = [];
      for (let i = 0; i < reps; i++) {
        await settle(ws);
        cps.push((await cpFsync(model, join(ws, 'copy.bin'))).ms);
        await rm(join(ws, 'copy.bin'), { force: true });
      }
      const s = summarize(steady);
      const cp = summarize(cps);
      const res = {
        label,
        size,
        change,
        checkpoints,
        recorded,
        firstMs: lat[0],
        steady: { ...s, p95: percentile(steady, 95) },
        cp,
        ratio: s.median / cp.median,
        ratioP95: percentile(steady, 95) / cp.median,
        runWallMs: r.ms,
        storeBytes: (await dirBytes(join(ws, '.cairn'))).size,
      };
      out.push(res);
      log(
        `  first ${res.firstMs.toFixed(0)} ms; then median ${s.median.toFixed(0)} ms, p95 ${res.steady.p95.toFixed(0)} ms (n=${s.n}, ${s.min.toFixed(0)}–${s.max.toFixed(0)}); ` +
          `cp+fsync ${cp.median.toFixed(0)} ms; ${recorded} checkpoints recorded; exp run ${(r.ms / 1000).toFixed(1)} s`,
      );
    } finally {
      if (!keep) await rmrf(ws);
    }
  }
  return out;
}
