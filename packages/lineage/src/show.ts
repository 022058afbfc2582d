import type { ListRefsOptions, ObjectId, Store } from '@cairn/store';
import { compareNewestFirst } from './experiments.js';
import { EXP_REF_PREFIX, isValidName } from './names.js';
import { shortId } from './records.js';
import { getSummary, type ShowCheckpoint } from './summary.js';

/** One experiment of SPEC's `exp show --json` `experiments` array. */
export interface ShowExperiment {
  name: string;
  /** The baseline's ID, 7 hex digits. */
  baseline: string;
  tip: ObjectId | null;
  /** The checkpoint the experiment started from, or null. */
  parent: ObjectId | null;
  /** Newest first. */
  checkpoints: ShowCheckpoint[];
}

/**
 * Everything `exp show` prints, newest tip first. Reads one cache entry per
 * experiment (records only for experiments whose summary the cache lost),
 * and never reads out or dep data, so its cost barely grows with the number
 * of checkpoints. Damaged ref files: see listExperiments.
 */
export async function showData(store: Store, opts: ListRefsOptions = {}): Promise<ShowExperiment[]> {
  const refs = (await store.refs.list(EXP_REF_PREFIX, opts))
    .map((r) => ({ name: r.name.slice(EXP_REF_PREFIX.length), id: r.id }))
    .filter((r) => isValidName(r.name));
  const items = await Promise.all(
    refs.map(async (r) => {
      const s = await getSummary(store, r.id, r.name);
      return { name: r.name, updated: s.updated, created: s.created, s };
    }),
  );
  items.sort(compareNewestFirst);
  return items.map(({ name, s }) => ({
    name,
    baseline: shortId(s.baseline),
    tip: s.tip,
    parent: s.from,
    checkpoints: s.rows,
  }));
}
