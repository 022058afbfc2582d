import { CairnError, isCairnError, type ObjectBackend, type ObjectId, type Store } from '@cairn/store';
import { expRef, getExperiment, isAncestor, listExperiments } from '@cairn/lineage';
import { copyObjects } from './copy-objects.js';
import { remoteState } from './remote-state.js';

export interface PushOptions {
  /** Move the remote's refs even where that drops checkpoints it has (not a fast-forward). */
  force?: boolean;
  /** How messages name the remote (default "the remote"). */
  remoteName?: string;
  /** Backend operations in flight at once (default 8). */
  concurrency?: number;
  /** Called after each object sent, with the totals so far. */
  onProgress?: (objects: number, bytes: number) => void;
}

/**
 * created: new on the remote; fast-forward: the remote's tip was an ancestor
 * of ours; forced: replaced a remote experiment that was not (--force);
 * unchanged: the remote already had it; diverged: refused, the remote's
 * experiment has checkpoints ours lacks (its ref left as it was).
 */
export type PushAction = 'created' | 'fast-forward' | 'forced' | 'unchanged' | 'diverged';

export interface PushedExperiment {
  name: string;
  action: PushAction;
  /** The local experiment-state record the remote ref now names (or would have). */
  state: ObjectId;
  tip: ObjectId | null;
  /** What the remote ref named before, or null. */
  was: ObjectId | null;
}

export interface PushReport {
  experiments: PushedExperiment[];
  /** Objects sent, and their stored bytes (0 when the remote had everything). */
  objects: number;
  bytes: number;
}

/**
 * Sends experiments to a remote: what it lacks of their chains and the
 * objects those need, then one flush, then each ref moved by
 * compare-and-swap, so a remote ref never names data not fully there. Only
 * fast-forwards unless `force`; a diverged experiment (or one another push
 * moved meanwhile) is reported as 'diverged' and its remote ref left alone,
 * while the others go on. Nothing local changes.
 */
export async function pushExperiments(store: Store, remote: ObjectBackend, names: string[] | 'all', opts: PushOptions = {}): Promise<PushReport> {
  const source = opts.remoteName ? `remote '${opts.remoteName}'` : 'the remote';
  const wanted = names === 'all' ? (await listExperiments(store)).map((e) => e.name) : [...new Set(names)];
  if (names !== 'all' && wanted.length === 0) throw new CairnError('BAD_INPUT', 'name at least one experiment to push, or pass --all');
  // Unknown names fail before anything is sent.
  const local = [];
  for (const name of wanted) local.push(await getExperiment(store, name));

  const plans: PushedExperiment[] = [];
  for (const e of local) {
    const was = await remote.refs.get(expRef(e.name));
    const base = { name: e.name, state: e.stateId, tip: e.tip, was };
    if (was === e.stateId) plans.push({ ...base, action: 'unchanged' });
    else if (was === null) plans.push({ ...base, action: 'created' });
    else if (await fastForward(store, remote, was, e.name, e.tip, source)) plans.push({ ...base, action: 'fast-forward' });
    else plans.push({ ...base, action: opts.force ? 'forced' : 'diverged' });
  }

  const moving = plans.filter((p) => p.action !== 'unchanged' && p.action !== 'diverged');
  const reader = { readObject: (id: ObjectId) => store.readObject(id) };
  const sent = await copyObjects(reader, remote, moving.map((p) => p.state), { concurrency: opts.concurrency, onProgress: opts.onProgress });
  // Data durable before any ref names it.
  await remote.flush();
  for (const p of moving) {
    try {
      await remote.refs.set(expRef(p.name), p.state, p.was);
    } catch (err) {
      if (!isCairnError(err, 'CONFLICT')) throw err;
      // Another push moved it since we looked: theirs stands.
      p.action = (await remote.refs.get(expRef(p.name))) === p.state ? 'unchanged' : 'diverged';
    }
  }
  return { experiments: plans, objects: sent.objects, bytes: sent.bytes };
}

/** Whether the remote's experiment (state `was`) is behind ours: its tip is absent, or an ancestor of our tip. */
async function fastForward(store: Store, remote: ObjectBackend, was: ObjectId, name: string, tip: ObjectId | null, source: string): Promise<boolean> {
  const theirs = await remoteState(remote, store, was, name, source);
  if (theirs.tip === null) return true;
  if (tip === null || !(await store.has(theirs.tip))) return false;
  return isAncestor(store, theirs.tip, tip);
}
