import { CairnError, isCairnError, type ListRefsOptions, type ObjectId, type Store } from '@cairn/store';
import { walkChain, type ChainEntry } from './graph.js';
import { checkName, EXP_REF_PREFIX, expRef, isValidName, randomName } from './names.js';
import {
  EXPERIMENT_KIND,
  RECORD_VERSION,
  isObjectId,
  makeCheckpoint,
  putBaseline,
  putCheckpoint,
  putExperimentState,
  readCheckpoint,
  readExperimentState,
  shortId,
  utcSeconds,
  type BaselineState,
  type CheckpointRecord,
  type DepEntry,
  type ExperimentState,
  type Metrics,
  type OutEntry,
  type Params,
} from './records.js';
import { serialized } from './serial.js';
import { dropSummary, readCachedSummary, rebuildSummary, rowOf, summaryOf, writeSummary } from './summary.js';

/** An experiment: its name and state-record ID plus the state's fields. */
export type Experiment = Omit<ExperimentState, 'kind' | 'version'> & {
  name: string;
  /** ID of the experiment-state record `exp/<name>` points at; changes at every checkpoint. */
  stateId: ObjectId;
};

/** One line of `exp list`. */
export interface ExperimentListing {
  name: string;
  tip: ObjectId | null;
  /** The checkpoint the experiment started from, or null. */
  parent: ObjectId | null;
  checkpoints: number;
  baseline: ObjectId;
  created: string;
  updated: string;
}

export interface CreateExperimentOptions {
  /** Default: `exp-` and 5 random hex digits. */
  name?: string;
  /** The checkpoint the new chain continues from (resume with changes, `--rev`); null or absent for a fresh start. */
  from?: ObjectId | null;
  /** The deps and params the experiment starts from. Default: those of `from`; required without `from`. */
  baseline?: BaselineState;
  created?: Date | string;
}

export interface CheckpointInput {
  stage: string;
  cmd: string;
  outs: Record<string, OutEntry>;
  deps: Record<string, DepEntry>;
  params: Params;
  metrics: Metrics;
  /** The metrics files as they were (see CheckpointRecord.metricsFiles). */
  metricsFiles?: Record<string, DepEntry>;
  /** Default: now. */
  created?: Date | string;
}

export interface AppendOptions {
  /**
   * The tip the caller believes the experiment has (null: no checkpoint yet).
   * When another run advanced it meanwhile, the append is refused with
   * CONFLICT instead of silently continuing someone else's chain.
   */
  expectTip?: ObjectId | null;
}

export interface AppendResult {
  id: ObjectId;
  step: number;
  record: CheckpointRecord;
  experiment: Experiment;
}

function toExperiment(name: string, stateId: ObjectId, s: ExperimentState): Experiment {
  return {
    name,
    stateId,
    tip: s.tip,
    first: s.first,
    from: s.from,
    baseline: s.baseline,
    created: s.created,
    updated: s.updated,
    checkpoints: s.checkpoints,
  };
}

/**
 * `updated` orders experiments in `exp show`; with whole seconds, two
 * experiments advanced in the same second would tie and fall back to name
 * order. A time cairn takes itself keeps its milliseconds; one a caller
 * gives is kept as given.
 */
function sortableNow(given: Date | string | undefined, seconds: string): string {
  return given === undefined ? new Date().toISOString() : seconds;
}

/** Newest tip first; ties (same second) by newest experiment, then by name, so the order is total. */
export function compareNewestFirst(a: { name: string; updated: string; created: string }, b: { name: string; updated: string; created: string }): number {
  if (a.updated !== b.updated) return a.updated < b.updated ? 1 : -1;
  if (a.created !== b.created) return a.created < b.created ? 1 : -1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function nameInUse(name: string): CairnError {
  return new CairnError('BAD_INPUT', `experiment name '${name}' is already in use`, {
    hint: 'choose another name, or remove that experiment first (cairn exp remove)',
  });
}

function noSuchExperiment(name: string): CairnError {
  return new CairnError('NOT_FOUND', `no experiment named '${name}'`, { hint: 'cairn exp list shows the experiments', fields: { name } });
}

export async function findExperiment(store: Store, name: string): Promise<Experiment | null> {
  if (!isValidName(name)) return null;
  const stateId = await store.refs.get(expRef(name));
  if (stateId === null) return null;
  return toExperiment(name, stateId, await readExperimentState(store, stateId, name));
}

export async function getExperiment(store: Store, name: string): Promise<Experiment> {
  const e = await findExperiment(store, name);
  if (!e) throw noSuchExperiment(name);
  return e;
}

export async function createExperiment(store: Store, opts: CreateExperimentOptions = {}): Promise<Experiment> {
  if (opts.name !== undefined) checkName(opts.name);
  const created = utcSeconds(opts.created);
  return serialized(store, async () => {
    // Checked before writing anything, so a refused name leaves no records behind.
    if (opts.name !== undefined && (await store.refs.get(expRef(opts.name))) !== null) throw nameInUse(opts.name);
    const from = opts.from ?? null;
    if (from !== null && !isObjectId(from)) throw new CairnError('BAD_INPUT', `'${String(from)}' is not a full checkpoint ID`);
    const fromRecord = from === null ? null : await readCheckpoint(store, from);
    const base = opts.baseline ?? (fromRecord ? { deps: fromRecord.deps, params: fromRecord.params } : undefined);
    if (!base) {
      throw new CairnError('BAD_INPUT', 'a fresh experiment needs a baseline: the deps and params it starts from');
    }
    const state: ExperimentState = {
      kind: EXPERIMENT_KIND,
      version: RECORD_VERSION,
      tip: null,
      first: null,
      from,
      baseline: await putBaseline(store, base),
      created,
      updated: sortableNow(opts.created, created),
      checkpoints: 0,
    };
    const stateId = await putExperimentState(store, state);
    let name = opts.name;
    if (name !== undefined) {
      try {
        await store.refs.set(expRef(name), stateId, null);
      } catch (err) {
        if (isCairnError(err, 'CONFLICT')) throw nameInUse(name);
        throw err;
      }
    } else {
      for (let attempt = 0; name === undefined; attempt++) {
        const candidate = randomName();
        try {
          await store.refs.set(expRef(candidate), stateId, null);
          name = candidate;
        } catch (err) {
          // 5 hex digits are a million names; hitting used ones many times in a row means something else is wrong.
          if (!isCairnError(err, 'CONFLICT') || attempt >= 100) throw err;
        }
      }
    }
    await writeSummary(store, stateId, summaryOf(state, []));
    return toExperiment(name, stateId, state);
  });
}

/**
 * Records a checkpoint at the end of an experiment's chain and advances the
 * experiment. Its step is the parent's step + 1 (the parent being the tip,
 * or for the first checkpoint the checkpoint the experiment started from),
 * or 0 for the first checkpoint of a fresh experiment.
 */
export async function appendCheckpoint(store: Store, name: string, input: CheckpointInput, opts: AppendOptions = {}): Promise<AppendResult> {
  const created = utcSeconds(input.created);
  return serialized(store, async () => {
    const ref = expRef(name);
    const stateId = isValidName(name) ? await store.refs.get(ref) : null;
    if (stateId === null) throw noSuchExperiment(name);
    const state = await readExperimentState(store, stateId, name);
    if (opts.expectTip !== undefined && opts.expectTip !== state.tip) {
      throw new CairnError(
        'CONFLICT',
        `experiment '${name}' moved on: its tip is ${state.tip ? shortId(state.tip) : 'empty'}, not ${opts.expectTip ? shortId(opts.expectTip) : 'empty'}`,
        { hint: 'another run added checkpoints to it; run again to start a new experiment from its tip' },
      );
    }
    const parent = state.tip ?? state.from;
    const step = parent === null ? 0 : (await readCheckpoint(store, parent)).step + 1;
    const record = makeCheckpoint({
      experiment: name,
      stage: input.stage,
      step,
      created,
      parent,
      outs: input.outs,
      deps: input.deps,
      params: input.params,
      metrics: input.metrics,
      metricsFiles: input.metricsFiles,
      cmd: input.cmd,
    });
    const id = await putCheckpoint(store, record);
    const next: ExperimentState = {
      ...state,
      tip: id,
      first: state.first ?? id,
      updated: sortableNow(input.created, created),
      checkpoints: state.checkpoints + 1,
    };
    const nextId = await putExperimentState(store, next);
    // The new summary is the old one plus one row: one cache read, whatever the chain's length.
    const prev = await readCachedSummary(store, stateId);
    if (prev) await writeSummary(store, nextId, summaryOf(next, [rowOf(id, record), ...prev.rows]));
    else await rebuildSummary(store, nextId, name, next);
    try {
      await store.refs.set(ref, nextId, stateId);
    } catch (err) {
      if (!isCairnError(err, 'CONFLICT')) throw err;
      await dropSummary(store, nextId);
      throw new CairnError('CONFLICT', `experiment '${name}' was changed by another writer while checkpoint ${shortId(id)} was recorded; it was not added`, {
        hint: 'run again',
        fields: { name, id },
      });
    }
    await dropSummary(store, stateId);
    return { id, step, record, experiment: toExperiment(name, nextId, next) };
  });
}

/**
 * Every experiment, newest first. A damaged ref file under `exp/` fails the
 * listing with an error naming it, unless `onDamaged` takes it (the rest are
 * then listed).
 */
export async function listExperiments(store: Store, opts: ListRefsOptions = {}): Promise<ExperimentListing[]> {
  const refs = await store.refs.list(EXP_REF_PREFIX, opts);
  const exps = await Promise.all(
    refs
      .map((r) => ({ name: r.name.slice(EXP_REF_PREFIX.length), id: r.id }))
      .filter((r) => isValidName(r.name))
      .map(async (r) => toExperiment(r.name, r.id, await readExperimentState(store, r.id, r.name))),
  );
  return exps.sort(compareNewestFirst).map((e) => ({
    name: e.name,
    tip: e.tip,
    parent: e.from,
    checkpoints: e.checkpoints,
    baseline: e.baseline,
    created: e.created,
    updated: e.updated,
  }));
}

/** The experiment's own checkpoints, newest first (not those of the experiment it branched from). */
export async function chain(store: Store, name: string): Promise<ChainEntry[]> {
  const e = await getExperiment(store, name);
  return walkChain(store, await readExperimentState(store, e.stateId, name), name);
}

export async function renameExperiment(store: Store, oldName: string, newName: string): Promise<void> {
  checkName(newName);
  return serialized(store, async () => {
    const id = isValidName(oldName) ? await store.refs.get(expRef(oldName)) : null;
    if (id === null) throw noSuchExperiment(oldName);
    if (oldName === newName) return;
    try {
      await store.refs.set(expRef(newName), id, null);
    } catch (err) {
      if (isCairnError(err, 'CONFLICT')) throw nameInUse(newName);
      throw err;
    }
    try {
      await store.refs.delete(expRef(oldName), id);
    } catch (err) {
      // Undo so the experiment is not left under two names.
      await store.refs.delete(expRef(newName), id).catch(() => {});
      if (isCairnError(err, 'CONFLICT') || isCairnError(err, 'NOT_FOUND')) {
        throw new CairnError('CONFLICT', `experiment '${oldName}' changed while being renamed; nothing was renamed`, { hint: 'run again', fields: { name: oldName } });
      }
      throw err;
    }
  });
}

/**
 * Drops experiments by name; all names are checked first, so one unknown
 * name removes nothing. Their checkpoints stay in the store until gc, and
 * any that another experiment descends from stay for good (its records
 * link them). Returns the names removed.
 */
export async function removeExperiments(store: Store, names: string[]): Promise<string[]> {
  const unique = [...new Set(names)];
  return serialized(store, async () => {
    const found: Array<{ name: string; id: ObjectId }> = [];
    const missing: string[] = [];
    for (const name of unique) {
      const id = isValidName(name) ? await store.refs.get(expRef(name)) : null;
      if (id === null) missing.push(name);
      else found.push({ name, id });
    }
    if (missing.length > 0) {
      throw new CairnError('NOT_FOUND', `no experiment named ${missing.map((n) => `'${n}'`).join(', ')}; nothing was removed`, {
        hint: 'cairn exp list shows the experiments',
        fields: { name: missing[0] },
      });
    }
    for (const { name, id } of found) {
      await store.refs.delete(expRef(name), id);
      await dropSummary(store, id);
    }
    return found.map((f) => f.name);
  });
}

export async function removeExperiment(store: Store, name: string): Promise<void> {
  await removeExperiments(store, [name]);
}
