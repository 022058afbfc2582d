import { CairnError, type ObjectId, type Store } from '@cairn/store';
import { readCheckpoint, shortId, type CheckpointRecord, type ExperimentState } from './records.js';

export interface ChainEntry {
  id: ObjectId;
  record: CheckpointRecord;
}

/**
 * An experiment's own checkpoints, newest first: from its tip down parent
 * links to its `first`. Checkpoints before `first` belong to the experiment
 * it branched from and are not repeated here.
 */
export async function walkChain(store: Store, state: ExperimentState, name: string): Promise<ChainEntry[]> {
  const out: ChainEntry[] = [];
  let id = state.tip;
  while (id !== null) {
    const record = await readCheckpoint(store, id);
    out.push({ id, record });
    if (id === state.first) return out;
    // The count bounds the walk, so a damaged state record cannot send it down a foreign chain forever.
    if (out.length >= state.checkpoints) break;
    id = record.parent;
  }
  if (state.tip === null && state.first === null) return out;
  throw new CairnError('CORRUPT', `experiment '${name}': the chain from ${shortId(state.tip ?? '')} does not reach its first checkpoint ${shortId(state.first ?? '')}`, {
    hint: 'run cairn fsck',
  });
}

/** Every checkpoint before `id`, nearest first, across the experiments it descends from. */
export async function ancestors(store: Store, id: ObjectId, opts: { limit?: number } = {}): Promise<ObjectId[]> {
  const limit = opts.limit ?? Infinity;
  const out: ObjectId[] = [];
  let parent = (await readCheckpoint(store, id)).parent;
  while (parent !== null && out.length < limit) {
    out.push(parent);
    parent = (await readCheckpoint(store, parent)).parent;
  }
  return out;
}

/** Whether `a` is `b` or one of its ancestors. */
export async function isAncestor(store: Store, a: ObjectId, b: ObjectId): Promise<boolean> {
  if (a === b) return true;
  await readCheckpoint(store, a);
  return (await ancestors(store, b)).includes(a);
}

/**
 * The nearest checkpoint both `a` and `b` descend from (either one itself
 * counts), or null when their histories never meet.
 */
export async function commonAncestor(store: Store, a: ObjectId, b: ObjectId): Promise<ObjectId | null> {
  const seen = new Set<ObjectId>([a, ...(await ancestors(store, a))]);
  if (seen.has(b)) return b;
  let cur: ObjectId | null = (await readCheckpoint(store, b)).parent;
  while (cur !== null) {
    if (seen.has(cur)) return cur;
    cur = (await readCheckpoint(store, cur)).parent;
  }
  return null;
}
