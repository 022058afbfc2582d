/**
 * `exp run`: decide resume / branch / --rev / --reset, run the stage's
 * command with the signal protocol, record a checkpoint at every signal,
 * and finish per SPEC.md. The store is opened only while a checkpoint is
 * being recorded, so other processes read it between checkpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Store, isCairnError, warmPool } from '@cairn/store';
import { appendCheckpoint, createExperiment, findExperiment, readCheckpoint, randomName, resolveRef, checkName, type CheckpointRecord } from '@cairn/lineage';
import { CairnError } from './errors.js';
import { loadPipeline, selectStage, DEFAULT_PARAMS_FILE, type Stage } from './pipeline.js';
import { missingParamKeys, parseSetArg, readParams, setParams, type ParamValues } from './params.js';
import { readMetrics, type MetricValues } from './metrics.js';
import { SignalWatcher, dvcSignalPath, makeSignalDir, prepareDvcTmp, type Signal } from './signal.js';
import { buildRunEnv } from './env.js';
import { readLock, writeLock } from './lockfile.js';
import { captureExisting, capturePaths, sameEntries, sameValues, type Captured } from './snapshot.js';
import { lockWorkspace, takeRunLease, traceWait } from './running.js';
import { LiveReport } from './report/live.js';
import { recoverApply, writableTarget } from './workspace.js';
import { restoreCheckpoint } from './apply.js';

export type RunEvent =
  | { type: 'warning'; message: string }
  | { type: 'info'; message: string }
  | { type: 'checkpoint'; id: string; step: number; experiment: string; message: string };

export interface RunOptions {
  workspace: string;
  storeDir: string;
  stage?: string;
  name?: string;
  rev?: string;
  reset?: boolean;
  set?: string[];
  maxCheckpoints?: number;
  /** Time between SIGTERM and SIGKILL when stopping the command (default CAIRN_KILL_GRACE seconds, else 5 s). */
  killGraceMs?: number;
  onEvent?: (e: RunEvent) => void;
  /** Resolves when the caller wants the run interrupted (Ctrl+C). */
  interrupt?: Promise<void>;
}

export interface RunResult {
  experiment: string;
  /** Checkpoints recorded by this run, oldest first. */
  checkpoints: string[];
  /** 0 done, 1 the command or a checkpoint failed, 130 interrupted. */
  exitCode: 0 | 1 | 130;
  reason?: string;
}

type Mode =
  | { kind: 'fresh' }
  | { kind: 'resume'; tip: string }
  | { kind: 'branch'; from: string; basedOn: string; atTip: boolean }
  | { kind: 'rev'; from: string };

function defaultGrace(): number {
  const s = Number(process.env.CAIRN_KILL_GRACE);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 5000;
}

/** Merged metrics of the metrics files plus those sent in the signal. */
function collectMetrics(files: MetricValues, fromSignal?: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const v of Object.values(files)) Object.assign(out, v);
  if (fromSignal) Object.assign(out, fromSignal);
  return out;
}

export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const ws = path.resolve(opts.workspace);
  const emit = opts.onEvent ?? (() => {});
  if (opts.rev !== undefined && opts.reset) throw new CairnError('BAD_INPUT', '--rev and --reset cannot be used together');
  if (opts.maxCheckpoints !== undefined && (!Number.isInteger(opts.maxCheckpoints) || opts.maxCheckpoints < 1)) {
    throw new CairnError('BAD_INPUT', '--max-checkpoints must be a whole number of 1 or more');
  }
  if (opts.name !== undefined) checkName(opts.name);
  // A bad -S is refused before --rev restores anything.
  for (const arg of opts.set ?? []) parseSetArg(arg);
  const pipeline = await loadPipeline(ws);
  for (const w of pipeline.warnings) emit({ type: 'warning', message: w });
  const stage = selectStage(pipeline, opts.stage);
  const ckptOuts = stage.outs.filter((o) => o.checkpoint).map((o) => o.path);
  const allOuts = stage.outs.map((o) => o.path);

  // Everything that can refuse the run is checked before anything is written
  // (the run lock, -S edits to the params file): a refused run changes nothing.
  // A missing store fails here too, with NOT_FOUND.
  const revId = await Store.with(opts.storeDir, async (store) => {
    if (opts.name !== undefined && (await findExperiment(store, opts.name))) {
      throw new CairnError('BAD_INPUT', `experiment name '${opts.name}' is already in use`, { hint: 'choose another --name, or cairn exp remove it' });
    }
    if (opts.rev === undefined) return undefined;
    const id = await resolveRef(store, opts.rev);
    // A hostile or damaged record (unsafe out paths, outs behind a symlink leaving the workspace) is refused before anything is written.
    const rec = await readCheckpoint(store, id);
    for (const p of Object.keys(rec.outs)) await writableTarget(ws, p, opts.storeDir);
    return id;
  });
  const unlockWorkspace = await lockWorkspace(opts.storeDir, ws);
  try {
    return await runLocked(opts, ws, emit, stage, ckptOuts, allOuts, revId);
  } finally {
    await unlockWorkspace();
  }
}

async function runLocked(
  opts: RunOptions,
  ws: string,
  emit: (e: RunEvent) => void,
  stage: Stage,
  ckptOuts: string[],
  allOuts: string[],
  revId: string | undefined,
): Promise<RunResult> {
  // A killed exp apply is finished (or undone) first, so this run starts from a whole workspace.
  const recovered = await recoverApply(ws);
  if (recovered) emit({ type: 'info', message: recovered });
  // --rev puts the whole checkpoint back, as checking out its commit did in
  // DVC 2.x: the script starts from its model, and the run records its code
  // and params (then -S on top), not whatever the workspace held. It is
  // exp apply's all-or-nothing restore, refusing to overwrite unrecorded
  // edits of deps and params the same way.
  let restored: string[] = [];
  if (revId !== undefined) {
    restored = await Store.with(opts.storeDir, async (store) => {
      const r = await restoreCheckpoint(store, ws, {
        storeDir: opts.storeDir,
        id: revId,
        editsHint: `record them first with cairn exp run (no --rev), or discard them with cairn exp apply ${opts.rev} --force and run --rev again`,
      });
      return r.restored;
    });
  }
  const lock = await readLock(ws);
  if (opts.set?.length) {
    const defaultFile = stage.params[0]?.file ?? DEFAULT_PARAMS_FILE;
    // The user's own text goes to setParams, so `lr=5.0` stays 5.0 in the file.
    const byFile = new Map<string, string[]>();
    for (const arg of opts.set) {
      const file = parseSetArg(arg).file ?? defaultFile;
      byFile.set(file, [...(byFile.get(file) ?? []), arg]);
    }
    for (const [file, args] of byFile) {
      // Usually a typo (DVC 2.x refused it); added anyway, since a new param is legitimate too.
      for (const key of await missingParamKeys(ws, file, args.map((a) => parseSetArg(a).key))) {
        emit({ type: 'warning', message: `-S ${key}: ${file} has no '${key}'; adding it` });
      }
      await setParams(ws, file, args);
    }
  }
  const params: ParamValues = await readParams(ws, stage.params);

  // Decide what this run is, and snapshot the deps, in one short store session.
  const notes: string[] = [];
  const plan = await Store.with(opts.storeDir, async (store) => {
    const deps = await capturePaths(store, ws, stage.deps, 'dep');
    let mode: Mode = { kind: 'fresh' };
    let parent: CheckpointRecord | null = null;
    if (revId !== undefined) {
      const from = revId;
      parent = await readCheckpoint(store, from);
      mode = { kind: 'rev', from };
    } else if (!opts.reset && lock && (await store.has(lock.checkpoint))) {
      // The checkpoint the last run or apply left here is where this run continues from.
      parent = await readCheckpoint(store, lock.checkpoint);
      const exp = await findExperiment(store, lock.experiment);
      const atTip = exp?.tip === lock.checkpoint;
      const unchanged = sameValues(parent.params, params) && sameEntries(parent.deps, deps) && opts.name === undefined;
      mode = atTip && unchanged ? { kind: 'resume', tip: lock.checkpoint } : { kind: 'branch', from: lock.checkpoint, basedOn: lock.experiment, atTip };
      // Honest resume: the checkpoint outs the script will load must be the
      // ones of the checkpoint this run continues from, or the chain would
      // record steps that did not happen. A missing out is restored from it.
      // One that differs (mostly a run stopped after writing it and before
      // its checkpoint; sometimes an edit) is moved aside, never deleted, and
      // the checkpoint's is restored.
      for (const p of ckptOuts) {
        const e = parent.outs[p];
        if (!e) continue;
        const abs = await writableTarget(ws, p, opts.storeDir);
        const from = lock.checkpoint.slice(0, 7);
        if (!(await lstat(abs).then(() => true, () => false))) {
          await store.getToPath(e.id, abs);
          notes.push(`Restored '${p}' from checkpoint ${from} (it was missing).`);
        } else if ((await store.hashPath(abs)) !== e.id) {
          const aside = await moveAside(ws, p);
          await store.getToPath(e.id, abs);
          notes.push(`'${p}' differs from checkpoint ${from}, which this run continues from (a change no checkpoint recorded): moved it to '${aside}' and restored the checkpoint's. To train from your file instead, put it back and remove cairn.lock: the next run starts a new experiment from what is there.`);
        }
      }
    }
    // Leased before the lock goes: gc must not take the dep snapshot (named by
    // no ref until the first checkpoint) or the parent, nor anyone the name.
    const name = mode.kind === 'resume' ? lock!.experiment : (opts.name ?? randomName());
    const parentId = mode.kind === 'resume' ? mode.tip : mode.kind === 'fresh' ? undefined : mode.from;
    const lease = await takeRunLease(store, name, [...Object.values(deps).map((d) => d.id), ...(parentId ? [parentId] : [])]);
    return { deps, mode, parent, name, lease };
  });
  for (const n of notes) emit({ type: 'info', message: n });

  if (opts.reset) {
    for (const p of ckptOuts) await rm(path.resolve(ws, p), { recursive: true, force: true });
  }
  const mode = plan.mode;
  const resume = mode.kind === 'resume';
  const expName = plan.name;
  const firstStep = plan.parent ? plan.parent.step + 1 : 0;
  if (mode.kind === 'resume') emit({ type: 'info', message: `Resuming experiment '${expName}'.` });
  else if (mode.kind === 'branch' && mode.atTip) emit({ type: 'info', message: `Modified checkpoint experiment based on '${mode.basedOn}' will be created.` });
  else if (mode.kind === 'branch') emit({ type: 'info', message: `New checkpoint experiment '${expName}' branching from '${mode.from.slice(0, 7)}' of '${mode.basedOn}' will be created.` });
  else if (mode.kind === 'rev') emit({ type: 'info', message: `Restored checkpoint '${mode.from.slice(0, 7)}' (${restored.join(', ')}); new experiment '${expName}' branches from it.` });
  else emit({ type: 'info', message: `Running experiment '${expName}'${opts.reset ? ' from scratch' : ''}.` });

  const sigDir = await makeSignalDir(tmpdir());
  const signalPath = path.join(sigDir, 'CAIRN_CHECKPOINT');
  const cleanupDvc = await prepareDvcTmp(ws);
  const unmarkRunning = () => plan.lease.release();
  const watcher = new SignalWatcher([signalPath, dvcSignalPath(ws)]);
  await watcher.start();

  const recorded: string[] = [];
  let created = resume; // the experiment exists once its first checkpoint is recorded
  let lastOuts: Record<string, Captured> = resume ? plan.parent!.outs : {};
  let tip: string | null = resume ? (mode as { tip: string }).tip : null;
  // DVC 2.x's form (a DVCLive directory) puts the report at DIR.html, as DVCLive did, and
  // links it after every checkpoint, as DVC did.
  const liveDir = stage.live?.dir;
  const liveOpts = liveDir === undefined ? {} : { file: `${liveDir}.html`, announceEach: true, yieldToOthers: true };
  const live = stage.live?.html ? new LiveReport(opts.storeDir, ws, expName, emit, liveOpts) : undefined;

  /** Records one checkpoint of `paths`; returns its ID. */
  /** Appends a checkpoint of already captured outs, in an open store session. */
  const append = async (store: Store, outs: Record<string, Captured>, metrics: Record<string, unknown>): Promise<{ id: string; step: number }> => {
    // The files as well as their values: exp apply and --rev put them back with the model, so the workspace row matches it.
    const metricsFiles = await captureExisting(store, ws, stage.metrics.map((m) => m.path));
    if (!created) {
      await createExperiment(store, {
        name: expName,
        from: mode.kind === 'branch' || mode.kind === 'rev' ? mode.from : null,
        baseline: mode.kind === 'fresh' ? { deps: plan.deps, params } : undefined,
      });
      created = true;
    }
    const outEntries = Object.fromEntries(
      Object.entries(outs).map(([p, e]) => [p, { ...e, checkpoint: ckptOuts.includes(p) }]),
    );
    const r = await appendCheckpoint(store, expName, { stage: stage.name, cmd: stage.cmd, outs: outEntries, deps: plan.deps, params, metrics, metricsFiles }, { expectTip: tip });
    await plan.lease.update({ roots: [...Object.values(plan.deps).map((d) => d.id), r.id] });
    tip = r.id;
    lastOuts = outs;
    recorded.push(r.id);
    await writeLock(ws, { experiment: expName, checkpoint: r.id, stage: stage.name, cmd: stage.cmd, deps: plan.deps, params, outs: outEntries });
    return { id: r.id, step: r.step };
  };
  const readAllMetrics = async (signalMetrics?: Record<string, unknown>) =>
    collectMetrics(await readMetrics(ws, stage.metrics.map((m) => m.path)), signalMetrics);

  /** Records one checkpoint of `paths`; returns its ID. */
  const record = async (paths: string[], what: string, signalMetrics?: Record<string, unknown>): Promise<{ id: string; step: number }> => {
    const metrics = await readAllMetrics(signalMetrics);
    const asked = performance.now();
    let waited = 0;
    // priority: the training waits on this; other commands let it in first (see the store's yield.ts).
    const r = await Store.with(
      opts.storeDir,
      async (store) => {
        waited = performance.now() - asked;
        return append(store, await capturePaths(store, ws, paths, what, lastOuts), metrics);
      },
      { priority: true },
    );
    await traceWait(expName, r.step, waited);
    return r;
  };

  const cwd = stage.wdir ? path.resolve(ws, stage.wdir) : ws;
  const env = buildRunEnv({
    root: ws,
    expName,
    step: firstStep,
    resume,
    fromCheckpoint: plan.parent !== null,
    signalPath,
    live: stage.live && liveDir !== undefined ? { path: path.relative(cwd, path.resolve(ws, liveDir)) || '.', summary: stage.live.summary ?? false, html: stage.live.html } : undefined,
  });
  const child = spawn(stage.cmd, {
    shell: true,
    cwd,
    env,
    stdio: 'inherit',
    // Its own process group, so stopping it reaches the shell's children too.
    detached: true,
  });
  // The content threads start while the training does, not at its first checkpoint.
  warmPool();
  const grace = opts.killGraceMs ?? defaultGrace();
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping || child.exitCode !== null || child.signalCode !== null) return;
    stopping = true;
    killGroup(child, signal);
    const t = setTimeout(() => killGroup(child, 'SIGKILL'), grace);
    t.unref();
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (err) => {
      emit({ type: 'warning', message: `cannot start the command: ${err.message}` });
      resolve({ code: 127, signal: null });
    });
  });
  let interrupted = false;
  opts.interrupt?.then(() => {
    interrupted = true;
    stop('SIGINT');
  });

  let failure: string | undefined;
  let maxReached = false;
  const handle = async (s: Signal) => {
    if (s.error) {
      failure = `bad checkpoint signal: ${s.error}`;
      await watcher.fail(s, failure);
      stop('SIGTERM');
      return;
    }
    try {
      const { id, step } = await record(ckptOuts, 'checkpoint out', s.payload.metrics as Record<string, unknown> | undefined);
      const message = `Checkpoint experiment iteration '${id.slice(0, 7)}'.`;
      emit({ type: 'checkpoint', id, step, experiment: expName, message });
      if (opts.maxCheckpoints !== undefined && recorded.length >= opts.maxCheckpoints) {
        maxReached = true;
        // Stopped before the ack, so the script does not start another epoch.
        stop('SIGTERM');
      }
      await watcher.ack(s);
      // After the ack, so the report never delays the training script.
      await live?.refresh();
    } catch (err) {
      failure = isCairnError(err) ? err.message : `recording the checkpoint failed: ${(err as Error).message}`;
      await watcher.fail(s, failure);
      stop('SIGTERM');
    }
  };

  try {
    let pending = watcher.next();
    let done = false;
    let result: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    while (!done) {
      const next = await Promise.race([pending, exited.then(() => 'exit' as const)]);
      if (next === 'exit') {
        result = await exited;
        // Signals written just before the exit are still taken, briefly.
        const late = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 30))]);
        if (late) {
          if (!failure) await handle(late);
          pending = watcher.next();
          continue;
        }
        done = true;
      } else if (next) {
        pending = watcher.next();
        if (!failure) await handle(next);
      }
    }
    const { code, signal } = result!;
    if (failure) return { experiment: expName, checkpoints: recorded, exitCode: 1, reason: failure };
    if (interrupted) return { experiment: expName, checkpoints: recorded, exitCode: 130, reason: 'interrupted' };
    if (maxReached) return { experiment: expName, checkpoints: recorded, exitCode: 0 };
    if (code !== 0) {
      const why = signal ? `the command was killed by ${signal}` : `the command exited with code ${code}`;
      return { experiment: expName, checkpoints: recorded, exitCode: 1, reason: why };
    }
    // Exit 0: a final checkpoint when an out changed since the last one (plain outs are
    // only recorded here), or when none was recorded at all (a stage with no outs still
    // leaves its params, deps and metrics). The outs are captured once, in one session.
    const metrics = await readAllMetrics();
    const final = await Store.with(opts.storeDir, async (store) => {
      const now = await capturePaths(store, ws, allOuts, 'out', lastOuts);
      if (recorded.length > 0 && sameEntries(now, lastOuts)) return undefined;
      return append(store, now, metrics);
    });
    if (final) {
      emit({ type: 'checkpoint', id: final.id, step: final.step, experiment: expName, message: `Checkpoint experiment iteration '${final.id.slice(0, 7)}'.` });
      await live?.refresh();
    }
    return { experiment: expName, checkpoints: recorded, exitCode: 0 };
  } catch (err) {
    stop('SIGTERM');
    await exited;
    throw err;
  } finally {
    await watcher.close();
    await cleanupDvc();
    await unmarkRunning();
    await rm(sigDir, { recursive: true, force: true });
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export type { Stage };

/** Renames workspace path `rel` to a free `<rel>.unrecorded[-N]` beside it; returns the new relative path. */
async function moveAside(ws: string, rel: string): Promise<string> {
  for (let n = 1; ; n++) {
    const aside = `${rel}.unrecorded${n > 1 ? `-${n}` : ''}`;
    const target = await writableTarget(ws, aside);
    if (await lstat(target).then(() => false, () => true)) {
      await rename(await writableTarget(ws, rel), target);
      return aside;
    }
  }
}
