/**
 * `exp apply`: put a checkpoint's outs, deps (code) and params back into
 * the workspace, refusing to overwrite edits made since the last run or
 * apply unless forced.
 */
import { lstat, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Store, syncDir, type ObjectId } from '@cairn/store';
import { readCheckpoint, resolveRef, type CheckpointRecord } from '@cairn/lineage';
import { CairnError } from './errors.js';
import { readParams, renderParamsValues } from './params.js';
import { LOCK_FILE, readLock, renderLock, type LockState } from './lockfile.js';
import { sameValues } from './snapshot.js';
import { lockWorkspace } from './running.js';
import { asideName, modeOf, stagedName, writeStaged } from './durable.js';
import { commitRenames, recoverApply, removeJournal, undoStaging, writableTarget, writeJournal, type Journal } from './workspace.js';

export interface ApplyOptions {
  workspace: string;
  storeDir: string;
  /** Checkpoint ID, unique prefix, or experiment name (its tip). */
  ref: string;
  force?: boolean;
}

export interface ApplyResult {
  checkpoint: ObjectId;
  experiment: string;
  /** Workspace paths written. */
  restored: string[];
  /** Lines worth telling the user (an interrupted apply finished first). */
  notes: string[];
}

/**
 * Workspace paths that exist and differ both from `reference` (what the last
 * run or apply put there) and from `target`: applying would lose them.
 */
async function editedPaths(store: Store, ws: string, reference: Record<string, { id: string }>, target: Record<string, { id: string }>): Promise<string[]> {
  const edited: string[] = [];
  for (const p of new Set([...Object.keys(reference), ...Object.keys(target)])) {
    const abs = path.resolve(ws, p);
    if (!(await lstat(abs).then(() => true, () => false))) continue;
    const now = await store.hashPath(abs);
    if (now !== reference[p]?.id && now !== target[p]?.id) edited.push(p);
  }
  return edited;
}

/** Params files whose values differ both from `reference` and from `target`. */
async function editedParams(ws: string, reference: Record<string, Record<string, unknown>>, target: Record<string, Record<string, unknown>>): Promise<string[]> {
  const edited: string[] = [];
  for (const file of new Set([...Object.keys(reference), ...Object.keys(target)])) {
    const keys = [...new Set([...Object.keys(reference[file] ?? {}), ...Object.keys(target[file] ?? {})])];
    const now = (await readParams(ws, [{ file, keys }], { allowMissing: true }))[file] ?? {};
    const pick = (v: Record<string, unknown> | undefined) => Object.fromEntries(keys.filter((k) => v && k in v).map((k) => [k, v![k]]));
    if (!sameValues(now, pick(reference[file])) && !sameValues(now, pick(target[file]))) edited.push(file);
  }
  return edited;
}

/** One workspace file or folder the apply replaces. */
interface Planned {
  rel: string;
  abs: string;
  staged: string;
  aside: string | null;
  /** A store object to restore, or the text to write. */
  from: { id: ObjectId } | { text: string; mode?: number };
}

/** Missing parent folders of `abs` inside `ws`, parents first. */
async function missingParents(ws: string, abs: string): Promise<string[]> {
  const out: string[] = [];
  for (let d = path.dirname(abs); d !== ws && d.startsWith(ws + path.sep); d = path.dirname(d)) {
    if (await lstat(d).then(() => true, () => false)) break;
    out.unshift(d);
  }
  return out;
}

/**
 * All or nothing: everything is checked first (paths, symlinked folders,
 * edits, objects present, params files parse), then every file is staged
 * beside its target and fsynced, then a journal (cairn.journal) records the
 * renames, then they are done, cairn.lock last. A failure before the journal's
 * commit phase removes what was staged; a kill after it is finished by the
 * next apply or run (recoverApply).
 */
export async function applyCheckpoint(opts: ApplyOptions): Promise<ApplyResult> {
  const ws = path.resolve(opts.workspace);
  // An apply under a running experiment would change the outs the training is writing.
  const unlock = await lockWorkspace(opts.storeDir, ws);
  try {
    const notes: string[] = [];
    const recovered = await recoverApply(ws);
    if (recovered) notes.push(recovered);
    return await Store.with(opts.storeDir, async (store) => {
      const id = await resolveRef(store, opts.ref);
      const r = await restoreCheckpoint(store, ws, { storeDir: opts.storeDir, id, force: opts.force });
      return { checkpoint: id, experiment: r.record.experiment, restored: r.restored, notes };
    });
  } finally {
    await unlock();
  }
}

export interface RestoreOptions {
  storeDir: string;
  /** The checkpoint's full ID. */
  id: ObjectId;
  force?: boolean;
  /** What to suggest when edits would be overwritten (default: apply's own advice). */
  editsHint?: string;
}

/**
 * The body of `exp apply`, shared with `exp run --rev`: writes checkpoint
 * `id`'s outs, deps, params and metrics files and cairn.lock into `ws`, all
 * or nothing. The caller holds the workspace lock and has run recoverApply.
 */
export async function restoreCheckpoint(store: Store, ws: string, opts: RestoreOptions): Promise<{ record: CheckpointRecord; restored: string[] }> {
  const id = opts.id;
  const lock = await readLock(ws);
  // Refuses a record naming unsafe paths (lineage's workspace-path rule).
  const record: CheckpointRecord = await readCheckpoint(store, id);
  const entries = [...Object.entries(record.outs), ...Object.entries(record.deps), ...Object.entries(record.metricsFiles ?? {})];
  const targets = new Map<string, string>();
  for (const p of [...entries.map(([p]) => p), ...Object.keys(record.params)]) targets.set(p, await writableTarget(ws, p, opts.storeDir));
  if (!opts.force) {
    // Without a cairn.lock nothing was put here by cairn: every differing file counts as an edit.
    // Outs and metrics files are what the training wrote, not edits: they are replaced as they are.
    const dirty = [
      ...(await editedPaths(store, ws, lock?.deps ?? {}, record.deps)),
      ...(await editedParams(ws, lock?.params ?? {}, record.params)),
    ];
    if (dirty.length > 0) {
      throw new CairnError('BAD_INPUT', `uncommitted changes would be overwritten: ${dirty.join(', ')}`, {
        hint: opts.editsHint ?? 'run the experiment first to record them, or pass --force to discard them',
      });
    }
  }
  for (const [p, e] of entries) {
    if (!(await store.has(e.id))) {
      throw new CairnError('CORRUPT', `checkpoint ${id.slice(0, 7)} cannot be applied: the content of '${p}' (${e.id.slice(0, 12)}) is missing from the store`, {
        hint: 'run cairn fsck',
      });
    }
  }
  // Params values are written into the file's current text (or the dep
  // snapshot's, when the params file is also a dep), keeping its layout;
  // a file that does not parse stops the apply here, before any write.
  const texts = new Map<string, string>();
  for (const [file, values] of Object.entries(record.params)) {
    const dep = record.deps[file];
    const original = dep ? (await store.getBuffer(dep.id)).toString('utf8') : ((await readFile(targets.get(file)!, 'utf8').catch(() => undefined)) ?? '');
    const text = await renderParamsValues(file, original, values);
    if (text !== undefined) texts.set(file, text);
  }

  const plan: Planned[] = [];
  const add = async (rel: string, abs: string, from: Planned['from'], kind: 'file' | 'tree') => {
    const existing = await lstat(abs).catch(() => undefined);
    const aside = kind === 'tree' || existing?.isDirectory() ? asideName(abs) : null;
    plan.push({ rel, abs, staged: stagedName(abs), aside, from });
  };
  for (const [p, e] of entries) if (!texts.has(p)) await add(p, targets.get(p)!, { id: e.id }, e.kind);
  for (const [file, text] of texts) await add(file, targets.get(file)!, { text, mode: await modeOf(targets.get(file)!) }, 'file');
  const lockState: LockState = {
    experiment: record.experiment,
    checkpoint: id,
    stage: record.stage,
    cmd: record.cmd,
    deps: record.deps,
    params: record.params,
    outs: record.outs,
  };
  const lockAbs = path.join(ws, LOCK_FILE);
  await add(LOCK_FILE, lockAbs, { text: renderLock(lockState), mode: await modeOf(lockAbs) }, 'file');

  const created = [...new Set((await Promise.all(plan.map((x) => missingParents(ws, x.abs)))).flat())].sort((a, b) => a.length - b.length);
  const rel = (abs: string) => path.relative(ws, abs).split(path.sep).join('/');
  const journal: Journal = {
    kind: 'cairn.apply-journal',
    version: 1,
    phase: 'staging',
    checkpoint: id,
    renames: plan.map((x) => ({ staged: rel(x.staged), target: x.rel, aside: x.aside === null ? null : rel(x.aside) })),
    created: created.map(rel),
  };
  await writeJournal(ws, journal);
  try {
    for (const d of created) {
      await mkdir(d);
      await syncDir(path.dirname(d));
    }
    for (const x of plan) {
      if ('id' in x.from) await store.getToPath(x.from.id, x.staged);
      else await writeStaged(x.staged, x.from.text, x.from.mode);
    }
    for (const d of new Set(plan.map((x) => path.dirname(x.staged)))) await syncDir(d);
  } catch (err) {
    await undoStaging(ws, journal).catch(() => undefined);
    await removeJournal(ws).catch(() => undefined);
    throw err;
  }
  // From here on the apply is decided: a kill is finished by the next command.
  await writeJournal(ws, { ...journal, phase: 'commit' });
  await commitRenames(ws, journal.renames);
  await removeJournal(ws);
  const restored = [...entries.map(([p]) => p), ...[...texts.keys()].filter((f) => !(f in record.deps))];
  return { record, restored };
}
