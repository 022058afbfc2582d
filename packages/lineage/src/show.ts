import type { ListRefsOptions, ObjectId, Store } from '@cairn/store';
import { compareNewestFirst } from './experiments.js';
import { EXP_REF_PREFIX, isValidName } from './names.js';
import { getBaseline, shortId } from './records.js';
import { displayParams } from './params.js';
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

/** A baseline group of `exp show`: the params its experiments started from. */
export interface ShowBaseline {
  id: ObjectId;
  /** As in ShowExperiment.baseline. */
  short: string;
  /** As checkpoints show them (params.yaml keys at the top, other files by name). */
  params: Record<string, unknown>;
}

/**
 * Everything `exp show` prints, newest tip first. Reads one cache entry per
 * experiment (records only for experiments whose summary the cache lost),
 * and never reads out or dep data, so its cost barely grows with the number
 * of checkpoints. Damaged ref files: see listExperiments.
 */
export async function showData(store: Store, opts: ListRefsOptions = {}): Promise<ShowExperiment[]> {
  return (await collect(store, opts)).map((x) => x.experiment);
}

/**
 * showData plus what each baseline group is, so a table can say it: one
 * baseline record read per distinct baseline (usually a handful).
 */
export async function showView(store: Store, opts: ListRefsOptions = {}): Promise<{ experiments: ShowExperiment[]; baselines: Record<string, ShowBaseline> }> {
  const items = await collect(store, opts);
  const baselines: Record<string, ShowBaseline> = {};
  const ids = new Map<string, ObjectId>();
  for (const { experiment, baseline } of items) ids.set(experiment.baseline, baseline);
  await Promise.all(
    [...ids].map(async ([short, id]) => {
      // A baseline that cannot be read leaves its group unexplained rather than failing the listing.
      const params = await getBaseline(store, id).then((b) => displayParams(b.params), () => ({}));
      baselines[short] = { id, short, params };
    }),
  );
  return { experiments: items.map((x) => x.experiment), baselines };
}

async function collect(store: Store, opts: ListRefsOptions): Promise<Array<{ experiment: ShowExperiment; baseline: ObjectId }>> {
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
    baseline: s.baseline,
    experiment: {
      name,
      baseline: shortId(s.baseline),
      tip: s.tip,
      parent: s.from,
      checkpoints: s.rows,
    },
  }));
}
