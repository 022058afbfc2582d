/**
 * Capturing workspace paths (outs, deps) into the store and comparing them
 * with what a checkpoint holds.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Store } from '@cairn/store';
import { sortKeysDeep } from '@cairn/lineage';
import { CairnError } from './errors.js';

export interface Captured {
  id: string;
  size: number;
  kind: 'file' | 'tree';
}

/**
 * Stores each path; a missing path is NOT_FOUND naming `what` (e.g.
 * "checkpoint out"). `previous`: what the same paths held at the last
 * checkpoint, so that a large file rewritten in place costs only what
 * changed in it (the store's PutOptions.previous).
 */
export async function capturePaths(store: Store, workspace: string, paths: string[], what: string, previous: Record<string, { id: string }> = {}): Promise<Record<string, Captured>> {
  const out: Record<string, Captured> = {};
  for (const p of paths) {
    const abs = path.resolve(workspace, p);
    const st = await lstat(abs).catch(() => undefined);
    if (!st) throw new CairnError('NOT_FOUND', `${what} '${p}' is missing`, { hint: `the stage must produce ${p}` });
    if (!st.isFile() && !st.isDirectory()) throw new CairnError('BAD_INPUT', `${what} '${p}' is neither a file nor a folder`);
    const id = await store.putPath(abs, { previous: Object.hasOwn(previous, p) ? previous[p].id : undefined });
    const s = await store.stat(id);
    out[p] = { id, size: s.size, kind: st.isDirectory() ? 'tree' : 'file' };
  }
  return out;
}

/**
 * Stores each path that exists as a file; the others are left out. For
 * metrics files: a script often writes its first metrics after its first
 * checkpoint, and a missing one is no reason to refuse a checkpoint.
 */
export async function captureExisting(store: Store, workspace: string, paths: string[]): Promise<Record<string, Captured>> {
  const out: Record<string, Captured> = {};
  for (const p of paths) {
    const st = await lstat(path.resolve(workspace, p)).catch(() => undefined);
    if (st?.isFile()) Object.assign(out, await capturePaths(store, workspace, [p], 'metrics file'));
  }
  return out;
}

/** Same IDs for the same paths. */
export function sameEntries(a: Record<string, { id: string }>, b: Record<string, { id: string }>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k].id === b[k].id);
}

/** Deep equality of plain JSON-like values (params), whatever their key order. */
export function sameValues(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeysDeep(a)) === JSON.stringify(sortKeysDeep(b));
}
