import { CairnError, isCairnError, type ObjectBackend, type ObjectId, type Store } from '@cairn/store';
import { expRef, getExperiment, isAncestor, listExperiments } from '@cairn/lineage';
import { sendObjects } from './send-objects.js';
import { remoteState } from './remote-state.js';

export interface PushOptions {
  /** Move the remote's refs even where that drops checkpoints it has (not a fast-forward). */
  force?: boolean;
  /** How messages name the remote (default "the remote"). */
  remoteName?: string;
  /** Kept for callers of the earlier API; the send streams objects in order and no longer uses it. */
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

/** What a push will do: each experiment's action, decided under the store lock, and the state records whose objects go. */
export interface PushPlan {
  experiments: PushedExperiment[];
  /** Roots of the objects to send: the state records of the experiments to move. */
  roots: ObjectId[];
}

/**
 * Decides a push (under the store lock; reads the remote's refs and state
 * records, sends nothing): each experiment is created, fast-forward,
 * forced, unchanged or diverged. Unknown names are NOT_FOUND, before
 * anything is sent.
 */
export async function planPush(store: Store, remote: ObjectBackend, names: string[] | 'all', opts: Pick<PushOptions, 'force' | 'remoteName'> = {}): Promise<PushPlan> {
  const source = opts.remoteName ? `remote '${opts.remoteName}'` : 'the remote';
  const wanted = names === 'all' ? (await listExperiments(store)).map((e) => e.name) : [...new Set(names)];
  if (names !== 'all' && wanted.length === 0) throw new CairnError('BAD_INPUT', 'name at least one experiment to push, or pass --all');
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
  return { experiments: plans, roots: [...new Set(plans.filter(moves).map((p) => p.state))] };
}

const moves = (p: PushedExperiment) => p.action !== 'unchanged' && p.action !== 'diverged';

/**
 * A copy of `store` that reads every object the plan may send without
 * holding the store lock (see Store.detach): plan, detach, close the store,
 * then send from the copy, so a long upload never keeps a running
 * `exp run` from recording its checkpoints.
 */
export async function detachForPush(store: Store, plan: PushPlan): Promise<Store> {
  return store.detach(plan.roots.length ? await store.reachable(plan.roots) : []);
}

/**
 * Carries out a plan: what the remote lacks of the moving experiments is
 * sent (read from `reader`: the store, or its detached copy), then one
 * flush, then each ref moved by compare-and-swap from what the plan read,
 * so a remote ref never names data not fully there. An experiment another
 * push moved meanwhile becomes 'diverged' (theirs stands); the others go
 * on. Nothing local changes.
 */
export async function sendPush(reader: Store, remote: ObjectBackend, plan: PushPlan, opts: Pick<PushOptions, 'concurrency' | 'onProgress'> = {}): Promise<PushReport> {
  const sent = await sendObjects(reader, remote, plan.roots, { onProgress: opts.onProgress });
  // Data durable before any ref names it.
  await remote.flush();
  // A gc may have condemned packs this push found its objects in (and so did not send): send those again before any ref names them.
  for (let round = 0; remote.recheckCondemned && (await remote.recheckCondemned()); round++) {
    if (round >= 3) throw new CairnError('FAILED', 'a gc on the remote keeps condemning what this push relies on; try again when it is done');
    const more = await sendObjects(reader, remote, plan.roots, { onProgress: opts.onProgress });
    sent.objects += more.objects;
    sent.bytes += more.bytes;
    await remote.flush();
  }
  const experiments = plan.experiments.map((p) => ({ ...p }));
  for (const p of experiments.filter(moves)) {
    try {
      await remote.refs.set(expRef(p.name), p.state, p.was);
    } catch (err) {
      if (!isCairnError(err, 'CONFLICT')) throw err;
      p.action = (await remote.refs.get(expRef(p.name))) === p.state ? 'unchanged' : 'diverged';
    }
  }
  return { experiments, objects: sent.objects, bytes: sent.bytes };
}

/**
 * planPush then sendPush from the open store (which stays locked
 * throughout; the CLI detaches instead, see detachForPush).
 */
export async function pushExperiments(store: Store, remote: ObjectBackend, names: string[] | 'all', opts: PushOptions = {}): Promise<PushReport> {
  return sendPush(store, remote, await planPush(store, remote, names, opts), opts);
}

/** Whether the remote's experiment (state `was`) is behind ours: its tip is absent, or an ancestor of our tip. */
async function fastForward(store: Store, remote: ObjectBackend, was: ObjectId, name: string, tip: ObjectId | null, source: string): Promise<boolean> {
  const theirs = await remoteState(remote, store, was, name, source);
  if (theirs.tip === null) return true;
  if (tip === null || !(await store.has(theirs.tip))) return false;
  return isAncestor(store, theirs.tip, tip);
}
