/**
 * The script's side of the signal protocol for Node programs (and for the
 * `cairn checkpoint` command, which any language can call). Mirrors
 * python/cairn.py: write the payload atomically, wait for cairn to delete
 * the signal, fail if cairn left `<signal>.error`.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pidAlive } from '@cairn/store';
import { CairnError } from './errors.js';
import { dvcSignalPath, errorPathFor } from './signal.js';
import { parseYamlValue, splitAssignment } from './structured.js';

export type MetricValue = number | string | boolean | null;

export interface CheckpointOptions {
  metrics?: Record<string, unknown>;
  step?: number;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The signal file of the current run, or undefined outside a run. */
export function resolveSignalPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const own = env.CAIRN_CHECKPOINT_SIGNAL;
  if (own) return own;
  const dvc = env.DVC_CHECKPOINT;
  if (dvc && dvc !== '0' && env.DVC_ROOT) return dvcSignalPath(env.DVC_ROOT);
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readError(p: string): Promise<string | undefined> {
  try {
    return (await readFile(p, 'utf8')).trim() || 'checkpoint failed';
  } catch {
    return undefined;
  }
}

/**
 * Records a checkpoint of the running experiment and resolves once cairn
 * has recorded it (true), or at once outside a run (false). Rejects with
 * CairnError FAILED when cairn refused the checkpoint or is gone.
 */
export async function makeCheckpoint(opts: CheckpointOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env;
  const signal = resolveSignalPath(env);
  if (signal === undefined) return false;
  const payload: Record<string, unknown> = {};
  if (opts.metrics !== undefined) payload.metrics = opts.metrics;
  if (opts.step !== undefined) payload.step = opts.step;
  // Never an empty file: the watcher gives an empty file a few ms to get
  // content, and "{}" skips that wait.
  const data = JSON.stringify(payload);

  const tmp = path.join(path.dirname(signal), `.${path.basename(signal)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    // The rename makes the whole payload appear at once.
    await rename(tmp, signal);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new CairnError('FAILED', `cannot write the checkpoint signal ${signal}: ${(err as Error).message}`, { cause: err });
  }

  const errPath = errorPathFor(signal);
  const cairnPid = Number(env.CAIRN_PID ?? 0);
  let nextLiveness = Date.now() + 1000;
  // Short first waits, since recording usually takes a few ms; backing off
  // gently to 5 ms adds at most a few ms without a busy loop during a long
  // recording (the same schedule as python/cairn.py).
  let delay = 0.5;
  for (;;) {
    if (!(await exists(signal))) {
      // cairn writes the error file before deleting the signal.
      const err = await readError(errPath);
      if (err !== undefined) throw new CairnError('FAILED', `checkpoint failed: ${err}`);
      return true;
    }
    const err = await readError(errPath);
    if (err !== undefined) throw new CairnError('FAILED', `checkpoint failed: ${err}`);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 5);
    if (cairnPid > 0 && Date.now() >= nextLiveness) {
      nextLiveness = Date.now() + 1000;
      if (!pidAlive(cairnPid)) throw new CairnError('FAILED', `the cairn process (pid ${cairnPid}) is gone; checkpoint not recorded`);
    }
  }
}

/**
 * `--metric k=v` arguments to a metrics object; values are YAML scalars
 * (`0.3` a number, `true` a boolean, `abc` a string).
 */
export function parseMetricArgs(args: string[]): Record<string, MetricValue> {
  const out: Record<string, MetricValue> = {};
  for (const arg of args) {
    const { key, raw } = splitAssignment(arg, 'bad --metric', '--metric acc=0.97');
    const { value } = parseYamlValue(raw, `--metric ${key}`);
    if (typeof value === 'object' && value !== null) {
      throw new CairnError('BAD_INPUT', `--metric ${key}: '${raw}' is not a single value; use a number, string or boolean`);
    }
    out[key] = value as MetricValue;
  }
  return out;
}

/**
 * What `cairn checkpoint --metric k=v` does: signal the run described by
 * `env` and wait for the checkpoint. Returns false (and does nothing)
 * outside a run.
 */
export async function signalCheckpoint(
  env: NodeJS.ProcessEnv,
  metrics: Record<string, unknown> = {},
  step?: number,
): Promise<boolean> {
  return makeCheckpoint({ env, metrics: Object.keys(metrics).length > 0 ? metrics : undefined, step });
}
