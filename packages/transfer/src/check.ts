import { CairnError, isCairnError, type ObjectId, type Store } from '@cairn/store';
import { expRef, getBaseline, readCheckpoint, readExperimentState, rebuildSummary, walkChain, type ExperimentState } from '@cairn/lineage';

/*
 * What an experiment that arrived from elsewhere (a tarball, a remote) must
 * pass before a ref may name it. Shared by import and pull, so both refuse
 * the same hostile input the same way.
 */

/**
 * Checks that `stateId` is a usable experiment in `store`: everything it
 * reaches is there, its state record, baseline, branch point and every
 * checkpoint of its chain decode and pass lineage's checks (the
 * workspace-path rule included). Caches the summary `exp show` reads.
 * Any failure is BAD_INPUT naming the experiment and `source` ("the
 * tarball", "remote 'origin'"); LOCKED passes through.
 */
export async function checkArrivedExperiment(store: Store, name: string, stateId: ObjectId, source: string): Promise<ExperimentState> {
  try {
    await store.reachable([stateId]);
    const state = await readExperimentState(store, stateId, name);
    await getBaseline(store, state.baseline);
    if (state.from !== null) await readCheckpoint(store, state.from);
    // Walks the chain (every record must be a checkpoint, tip down to first) and caches the summary exp show reads.
    await rebuildSummary(store, stateId, name, state);
    await checkEntryTypes(store, state, name);
    return state;
  } catch (err) {
    throw unusable(name, err, source);
  }
}

/**
 * Each out, dep and metrics file of the chain is stored as what its entry
 * says (a file or a folder): a record's links carry no types, so a sender
 * could have passed a file off as a chunk, which a restore would only
 * meet later.
 */
async function checkEntryTypes(store: Store, state: ExperimentState, name: string): Promise<void> {
  for (const { id, record } of await walkChain(store, state, name)) {
    const entries = [...Object.entries(record.outs), ...Object.entries(record.deps), ...Object.entries(record.metricsFiles ?? {})];
    const stats = await store.statMany(entries.map(([, e]) => e.id));
    entries.forEach(([path, e], i) => {
      if (stats[i].type !== e.kind) throw new CairnError('BAD_INPUT', `checkpoint ${id.slice(0, 7)}: '${path}' is a ${e.kind}, but object ${e.id.slice(0, 12)} is stored as a ${stats[i].type}`);
    });
  }
}

/** An error met while checking an arrived experiment, as bad input from `source`. */
export function unusable(name: string, err: unknown, source: string): Error {
  if (!isCairnError(err) || err.code === 'LOCKED') return err as Error;
  const bad = (message: string) => new CairnError('BAD_INPUT', message);
  const { id, from } = err.fields;
  if (err.code === 'NOT_FOUND' && id !== undefined && from !== undefined) return bad(`${source} is missing object ${id.slice(0, 12)} (needed by ${from} of experiment '${name}')`);
  if (err.code === 'NOT_FOUND') return bad(`${source} is missing an object experiment '${name}' needs: ${err.message}`);
  return bad(`experiment '${name}' in ${source} is unusable: ${err.message}`);
}

/** One experiment ref to move: `to` replaces `from` (null: the ref must not exist yet). */
export interface RefMove {
  name: string;
  to: ObjectId;
  from: ObjectId | null;
}

/**
 * Moves experiment refs all or nothing, as import and pull promise: each by
 * compare-and-swap, and on any failure every ref already moved is put back
 * (again by compare-and-swap, so a ref someone else changed meanwhile is
 * left alone) before the error is rethrown.
 */
export async function moveRefsAllOrNothing(store: Store, moves: RefMove[]): Promise<void> {
  const done: RefMove[] = [];
  try {
    for (const m of moves) {
      await store.refs.set(expRef(m.name), m.to, m.from);
      done.push(m);
    }
  } catch (err) {
    for (const m of done.reverse()) {
      if (m.from === null) await store.refs.delete(expRef(m.name), m.to).catch(() => {});
      else await store.refs.set(expRef(m.name), m.from, m.to).catch(() => {});
    }
    throw err;
  }
}
