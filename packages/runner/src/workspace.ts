/**
 * The workspace's current params and metrics (the `workspace` row of
 * `exp show` and the "new" side of `exp diff`), and the rules for writing
 * into a workspace from a record (`exp apply`, `exp run --rev`, resume).
 */
import { lstat, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '@cairn/store';
import { checkWorkspacePath, displayParams, isWorkspacePath } from '@cairn/lineage';
import { CairnError } from './errors.js';
import { writeFileDurable } from './durable.js';
import { LOCK_FILE } from './lockfile.js';
import { loadPipeline, selectStage } from './pipeline.js';
import { readParams } from './params.js';
import { readMetrics } from './metrics.js';

export interface WorkspaceState {
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

/** Empty when the workspace has no pipeline file; params or metrics that cannot be read are left out. */
export async function readWorkspaceState(workspace: string, stageName?: string): Promise<WorkspaceState> {
  let stage;
  try {
    stage = selectStage(await loadPipeline(workspace), stageName);
  } catch {
    return { params: {}, metrics: {} };
  }
  const params = await readParams(workspace, stage.params, { allowMissing: true }).catch(() => ({}));
  const files = await readMetrics(workspace, stage.metrics.map((m) => m.path)).catch(() => ({}));
  const metrics: Record<string, unknown> = {};
  for (const v of Object.values(files)) Object.assign(metrics, v);
  return { params: displayParams(params), metrics };
}

// ---- writing into the workspace --------------------------------------------

/**
 * Resolves a record's workspace path for writing, or refuses it (BAD_INPUT)
 * before anything is written: the path must pass lineage's workspace-path
 * rule, every existing parent folder must be a folder, a symlinked parent
 * must lead to a folder inside the workspace, and the target must neither be
 * nor hold the store. The target itself may be a symlink: writes replace it
 * (rename), never follow it.
 */
export async function writableTarget(workspace: string, rel: string, storeDir?: string): Promise<string> {
  checkWorkspacePath(rel, 'path');
  const wsReal = await realpath(workspace);
  const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
  const segments = rel.split('/');
  let real = wsReal;
  for (let i = 0; i < segments.length - 1; i++) {
    const here = path.join(real, segments[i]);
    const shown = segments.slice(0, i + 1).join('/');
    const st = await lstat(here).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) {
      // The rest is created by the write, as plain folders under a checked one.
      real = path.join(here, ...segments.slice(i + 1, -1));
      break;
    }
    if (st.isSymbolicLink()) {
      const to = await realpath(here).catch(() => undefined);
      if (to === undefined || !inside(to, wsReal)) {
        throw new CairnError('BAD_INPUT', `cannot write '${rel}': '${shown}' is a symlink that leads outside the workspace`, {
          hint: `replace the symlink '${shown}' with a folder, or remove it`,
        });
      }
      if (!(await stat(to)).isDirectory()) throw new CairnError('BAD_INPUT', `cannot write '${rel}': '${shown}' is not a folder`);
      real = to;
    } else if (!st.isDirectory()) {
      throw new CairnError('BAD_INPUT', `cannot write '${rel}': '${shown}' is not a folder`, { hint: `move '${shown}' away first` });
    } else {
      real = here;
    }
  }
  const target = path.join(real, segments[segments.length - 1]);
  if (storeDir !== undefined) {
    const storeReal = await realpath(storeDir).catch(() => path.resolve(storeDir));
    if (inside(target, storeReal) || inside(storeReal, target)) {
      throw new CairnError('BAD_INPUT', `cannot write '${rel}': it is or holds the store ${storeDir}`);
    }
  }
  return path.join(path.resolve(workspace), rel);
}

/**
 * `cairn.journal`: how an interrupted `exp apply` is finished or undone.
 * Phase `staging` (written before the first temp file) lists the temp files
 * and folders about to be created: recovery deletes them, so the workspace
 * is as before. Phase `commit` (written once every staged file is complete
 * and fsynced, before the first rename) lists the renames in order,
 * cairn.lock last: recovery performs those not yet done, so the workspace
 * is as the apply would have left it. Paths are relative to the workspace.
 */
export const JOURNAL_FILE = 'cairn.journal';

export interface JournalRename {
  /** The complete, fsynced new content, `.NAME.cairn-new-*` beside the target. */
  staged: string;
  target: string;
  /** Where a folder being replaced is moved first (rename cannot replace a non-empty folder). */
  aside: string | null;
}

export interface Journal {
  kind: 'cairn.apply-journal';
  version: 1;
  phase: 'staging' | 'commit';
  checkpoint: string;
  renames: JournalRename[];
  /** Folders the apply created for new targets, parents first. */
  created: string[];
}

export async function writeJournal(workspace: string, j: Journal): Promise<void> {
  await writeFileDurable(path.join(workspace, JOURNAL_FILE), `${JSON.stringify(j, null, 1)}\n`);
}

export async function removeJournal(workspace: string): Promise<void> {
  await unlink(path.join(workspace, JOURNAL_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await syncDir(workspace);
}

const exists = (p: string) => lstat(p).then(() => true, () => false);

/** Performs the journal's renames not yet done (each one is done once its staged file is gone). */
export async function commitRenames(workspace: string, renames: JournalRename[]): Promise<void> {
  const dirs = new Set<string>();
  for (const r of renames) {
    const staged = path.join(workspace, r.staged);
    const target = path.join(workspace, r.target);
    if (!(await exists(staged))) continue;
    if (r.aside !== null && (await exists(target))) {
      const aside = path.join(workspace, r.aside);
      if (await exists(aside)) await rm(target, { recursive: true, force: true });
      else await rename(target, aside);
    }
    await rename(staged, target);
    dirs.add(path.dirname(target));
  }
  for (const d of dirs) await syncDir(d);
  for (const r of renames) if (r.aside !== null) await rm(path.join(workspace, r.aside), { recursive: true, force: true });
}

/** Deletes what a staging phase left: temp files, then the folders it created (deepest first, only if empty). */
export async function undoStaging(workspace: string, j: Pick<Journal, 'renames' | 'created'>): Promise<void> {
  for (const r of j.renames) {
    const staged = path.join(workspace, r.staged);
    await rm(staged, { recursive: true, force: true });
    // The store restores a file through its own temp name (`<staged>.tmp-*`); a kill can leave that too.
    const names = await readdir(path.dirname(staged)).catch(() => [] as string[]);
    for (const n of names) if (n.startsWith(`${path.basename(staged)}.tmp-`)) await rm(path.join(path.dirname(staged), n), { force: true });
  }
  for (const d of [...j.created].reverse()) await rmdir(path.join(workspace, d)).catch(() => undefined);
}

// Journal entries are read back from the workspace, so they are checked like any input before recovery renames or deletes anything.
function checkJournal(j: unknown): Journal {
  const ok = (p: unknown) => typeof p === 'string' && (isWorkspacePath(p) || p === LOCK_FILE);
  const temp = (p: unknown, target: string, tag: string) =>
    typeof p === 'string' && path.posix.dirname(p) === path.posix.dirname(target) && path.posix.basename(p).startsWith(`.${path.posix.basename(target)}.cairn-${tag}-`) && !p.includes('\0');
  const x = j as Journal;
  if (
    !x || typeof x !== 'object' || x.kind !== 'cairn.apply-journal' || x.version !== 1 || (x.phase !== 'staging' && x.phase !== 'commit') ||
    !Array.isArray(x.renames) || !Array.isArray(x.created) || !x.created.every((d) => isWorkspacePath(d)) ||
    !x.renames.every((r) => r && ok(r.target) && temp(r.staged, r.target, 'new') && (r.aside === null || temp(r.aside, r.target, 'old')))
  ) {
    throw new CairnError('BAD_INPUT', `${JOURNAL_FILE} is damaged`, { hint: `look at the workspace's files, then delete ${JOURNAL_FILE} and any .*.cairn-new-* files` });
  }
  return x;
}

/**
 * Finishes (phase commit) or undoes (phase staging) an `exp apply` that was
 * killed part-way, so the workspace is never left half applied. Call with
 * the workspace lock held: then a journal is never a live apply's. Returns
 * a line saying what was done, or undefined when there was no journal.
 */
export async function recoverApply(workspace: string): Promise<string | undefined> {
  const done = await replayJournal(workspace);
  // A kill inside a durable write of cairn.lock or of the journal itself leaves its temp file; under the lock none is live,
  // and the journal's own staged files are gone by now.
  for (const n of await readdir(workspace).catch(() => [] as string[])) {
    if (n.startsWith(`.${LOCK_FILE}.cairn-new-`) || n.startsWith(`.${JOURNAL_FILE}.cairn-new-`)) await rm(path.join(workspace, n), { force: true });
  }
  return done;
}

async function replayJournal(workspace: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(workspace, JOURNAL_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let j: Journal;
  try {
    j = checkJournal(JSON.parse(text));
  } catch {
    j = checkJournal(undefined);
  }
  const short = typeof j.checkpoint === 'string' ? j.checkpoint.slice(0, 7) : '?';
  if (j.phase === 'commit') {
    await commitRenames(workspace, j.renames);
    await removeJournal(workspace);
    return `Finished the interrupted exp apply of checkpoint '${short}'.`;
  }
  await undoStaging(workspace, j);
  await removeJournal(workspace);
  return `Undid the interrupted exp apply of checkpoint '${short}' (nothing had been replaced).`;
}
