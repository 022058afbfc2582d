import { isCairnError, type Store } from '@cairn/store';
import { EXP_REF_PREFIX, isValidName } from './names.js';
import { getBaseline, readCheckpoint, readExperimentState } from './records.js';
import { walkChain } from './graph.js';

export interface LineageProblem {
  /** `experiment 'NAME'`. */
  where: string;
  message: string;
}

/**
 * Reads every experiment as the commands that use it would (state, baseline,
 * the checkpoint it started from, every checkpoint of its chain), so `fsck`
 * reports a record that `exp apply` or `exp show` would refuse, e.g. one
 * naming a path outside the workspace. One problem per experiment: the first
 * record that fails names the rest of its chain unreadable anyway.
 */
export async function verifyExperiments(store: Store): Promise<LineageProblem[]> {
  const problems: LineageProblem[] = [];
  // Damaged ref files are the store's finding (Store.verify names them); the other experiments are still checked.
  for (const ref of await store.refs.list(EXP_REF_PREFIX, { onDamaged: () => {} })) {
    const name = ref.name.slice(EXP_REF_PREFIX.length);
    if (!isValidName(name)) continue;
    try {
      const state = await readExperimentState(store, ref.id, name);
      await getBaseline(store, state.baseline);
      if (state.from !== null) await readCheckpoint(store, state.from);
      await walkChain(store, state, name);
    } catch (err) {
      if (!isCairnError(err) || err.code === 'LOCKED') throw err;
      problems.push({ where: `experiment '${name}'`, message: err.message });
    }
  }
  return problems;
}
