import type { ObjectId, Store } from '@cairn/store';
import { walkChain } from './graph.js';
import { displayParams, sortKeysDeep } from './params.js';
import { readExperimentState, type CheckpointRecord, type ExperimentState } from './records.js';

/** One checkpoint as `exp show --json` prints it (SPEC). */
export interface ShowCheckpoint {
  id: ObjectId;
  step: number;
  created: string;
  parent: ObjectId | null;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
  outs: Record<string, { size: number; id: ObjectId }>;
}

/**
 * The cached view of one experiment state: its fields plus its chain's rows,
 * newest first. Keyed by the state record's ID, which is immutable, so a
 * summary is never stale; it can only be missing.
 */
export type Summary = Omit<ExperimentState, 'kind' | 'version' | 'checkpoints'> & {
  v: typeof SUMMARY_VERSION;
  rows: ShowCheckpoint[];
};

// Bump when ShowCheckpoint or Summary change shape: old entries then read as missing and are rebuilt.
export const SUMMARY_VERSION = 1;
const NAMESPACE = 'lineage';
const key = (stateId: ObjectId) => `summary/${stateId}`;

export function rowOf(id: ObjectId, r: CheckpointRecord): ShowCheckpoint {
  const outs: Record<string, { size: number; id: ObjectId }> = {};
  for (const path of Object.keys(r.outs).sort()) outs[path] = { size: r.outs[path].size, id: r.outs[path].id };
  return {
    id,
    step: r.step,
    created: r.created,
    parent: r.parent,
    metrics: sortKeysDeep(r.metrics) as Record<string, unknown>,
    params: displayParams(r.params),
    outs,
  };
}

export function summaryOf(state: ExperimentState, rows: ShowCheckpoint[]): Summary {
  return {
    v: SUMMARY_VERSION,
    tip: state.tip,
    first: state.first,
    from: state.from,
    baseline: state.baseline,
    created: state.created,
    updated: state.updated,
    rows,
  };
}

function isValid(s: Summary | undefined): s is Summary {
  return (
    s !== undefined &&
    s !== null &&
    typeof s === 'object' &&
    s.v === SUMMARY_VERSION &&
    Array.isArray(s.rows) &&
    // A summary always starts with its tip, so a mismatched entry cannot pass as valid.
    (s.rows.length === 0 ? s.tip === null : s.rows[0].id === s.tip)
  );
}

export async function readCachedSummary(store: Store, stateId: ObjectId): Promise<Summary | undefined> {
  try {
    const s = await store.kv(NAMESPACE).get<Summary>(key(stateId));
    return isValid(s) ? s : undefined;
  } catch {
    // A cache read that fails is a cache miss; the records are the truth.
    return undefined;
  }
}

export async function writeSummary(store: Store, stateId: ObjectId, s: Summary): Promise<void> {
  try {
    await store.kv(NAMESPACE).put(key(stateId), s);
  } catch {
    /* a cache that cannot be written is rebuilt next time */
  }
}

export async function dropSummary(store: Store, stateId: ObjectId): Promise<void> {
  try {
    await store.kv(NAMESPACE).del(key(stateId));
  } catch {
    /* leftover cache entries are harmless: keyed by immutable IDs */
  }
}

/** Builds a summary from the records alone: one read per checkpoint of the chain. */
export async function rebuildSummary(store: Store, stateId: ObjectId, name: string, state?: ExperimentState): Promise<Summary> {
  state ??= await readExperimentState(store, stateId, name);
  const chain = await walkChain(store, state, name);
  const s = summaryOf(
    state,
    chain.map((c) => rowOf(c.id, c.record)),
  );
  await writeSummary(store, stateId, s);
  return s;
}

/** The summary of a state: from the cache, or rebuilt (and cached) when the cache lost it. */
export async function getSummary(store: Store, stateId: ObjectId, name: string): Promise<Summary> {
  return (await readCachedSummary(store, stateId)) ?? rebuildSummary(store, stateId, name);
}
