/**
 * `exp diff`: params, metrics, outs and deps that differ between two
 * checkpoints, or between a checkpoint and the workspace.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '@cairn/store';
import { displayParams, findExperiment, readCheckpoint, resolveRef } from '@cairn/lineage';
import { CairnError } from './errors.js';
import { flatten } from './metrics.js';
import { loadPipeline, selectStage } from './pipeline.js';
import { readLock } from './lockfile.js';
import { readWorkspaceState } from './workspace.js';

export interface DiffOptions {
  workspace: string;
  storeDir: string;
  /** Default: the tip of the experiment last run or applied here. */
  a?: string;
  /** Default: the workspace. */
  b?: string;
}

export interface ValueChange {
  old: unknown;
  new: unknown;
  /** new - old, for numbers. */
  diff?: number;
}

export interface PathChange {
  old: { id: string; size: number } | null;
  new: { id: string; size: number } | null;
}

export interface DiffResult {
  a: string;
  b: string;
  params: Record<string, ValueChange>;
  metrics: Record<string, ValueChange>;
  outs: Record<string, PathChange>;
  deps: Record<string, PathChange>;
}

interface Side {
  label: string;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  outs: Record<string, { id: string; size: number }>;
  deps: Record<string, { id: string; size: number }>;
}

async function checkpointSide(store: Store, ref: string): Promise<Side> {
  const id = await resolveRef(store, ref);
  const r = await readCheckpoint(store, id);
  const pick = (m: Record<string, { id: string; size: number }>) => Object.fromEntries(Object.entries(m).map(([p, e]) => [p, { id: e.id, size: e.size }]));
  return { label: id.slice(0, 7), params: flatten(displayParams(r.params)), metrics: flatten(r.metrics), outs: pick(r.outs), deps: pick(r.deps) };
}

async function workspaceSide(store: Store, ws: string): Promise<Side> {
  const state = await readWorkspaceState(ws);
  const stage = selectStage(await loadPipeline(ws));
  const hashAll = async (paths: string[]) => {
    const out: Record<string, { id: string; size: number }> = {};
    for (const p of paths) {
      const abs = path.resolve(ws, p);
      const st = await lstat(abs).catch(() => undefined);
      if (!st) continue;
      out[p] = { id: await store.hashPath(abs), size: st.isDirectory() ? await dirSize(abs) : st.size };
    }
    return out;
  };
  return {
    label: 'workspace',
    params: flatten(state.params),
    metrics: flatten(state.metrics),
    outs: await hashAll(stage.outs.map((o) => o.path)),
    deps: await hashAll(stage.deps),
  };
}

async function dirSize(dir: string | Buffer): Promise<number> {
  let total = 0;
  // Names as bytes: a name that is not UTF-8 would not survive a string.
  for (const e of await readdir(dir, { encoding: 'buffer', withFileTypes: true })) {
    const p = Buffer.concat([Buffer.from(dir), Buffer.from('/'), e.name as unknown as Buffer]);
    if (e.isDirectory()) total += await dirSize(p);
    else if (e.isFile()) total += (await lstat(p)).size;
  }
  return total;
}

function valueChanges(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, ValueChange> {
  const out: Record<string, ValueChange> = {};
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const o = a[k];
    const n = b[k];
    if (JSON.stringify(o) === JSON.stringify(n)) continue;
    const c: ValueChange = { old: o ?? null, new: n ?? null };
    if (typeof o === 'number' && typeof n === 'number') c.diff = n - o;
    out[k] = c;
  }
  return out;
}

function pathChanges(a: Side['outs'], b: Side['outs']): Record<string, PathChange> {
  const out: Record<string, PathChange> = {};
  for (const p of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (a[p]?.id === b[p]?.id) continue;
    out[p] = { old: a[p] ?? null, new: b[p] ?? null };
  }
  return out;
}

export async function diffExperiments(opts: DiffOptions): Promise<DiffResult> {
  const ws = path.resolve(opts.workspace);
  return Store.with(opts.storeDir, async (store) => {
    let aRef = opts.a;
    if (aRef === undefined) {
      const lock = await readLock(ws);
      if (!lock) throw new CairnError('NOT_FOUND', 'nothing to compare with: no experiment was run or applied here', { hint: 'name a checkpoint: cairn exp diff ID [ID]' });
      aRef = (await findExperiment(store, lock.experiment))?.tip ?? lock.checkpoint;
    }
    const a = await checkpointSide(store, aRef);
    const b = opts.b === undefined ? await workspaceSide(store, ws) : await checkpointSide(store, opts.b);
    return {
      a: a.label,
      b: b.label,
      params: valueChanges(a.params, b.params),
      metrics: valueChanges(a.metrics, b.metrics),
      outs: pathChanges(a.outs, b.outs),
      deps: pathChanges(a.deps, b.deps),
    };
  });
}
