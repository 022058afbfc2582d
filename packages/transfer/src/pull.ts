import { CairnError, isCairnError, type ObjectBackend, type ObjectId, type Store } from '@cairn/store';
import { checkName, EXP_REF_PREFIX, expRef, isAncestor, isValidName, readExperimentState } from '@cairn/lineage';
import { checkArrivedExperiment, moveRefsAllOrNothing } from './check.js';
import { copyObjects } from './copy-objects.js';
import { readsInBulk, receiveObjects } from './receive-objects.js';

export interface PullOptions {
  /** How messages name the remote (default "the remote"). */
  remoteName?: string;
  /** Backend operations in flight at once (default 8). */
  concurrency?: number;
  /** Called after each object stored, with the totals so far. */
  onProgress?: (objects: number, bytes: number) => void;
}

/**
 * created: new here; fast-forward: our tip was an ancestor of the remote's;
 * unchanged: we had it; ahead: ours descends from the remote's (left as it is).
 */
export type PullAction = 'created' | 'fast-forward' | 'unchanged' | 'ahead';

export interface PulledExperiment {
  name: string;
  action: PullAction;
  /** The experiment-state record the remote names. */
  state: ObjectId;
  tip: ObjectId | null;
  checkpoints: number;
  /** What the local ref named before, or null. */
  was: ObjectId | null;
}

export interface PullReport {
  experiments: PulledExperiment[];
  /** Objects received that the store lacked, and their stored bytes. */
  objects: number;
  bytes: number;
}

/**
 * A remote that checks what it reads says CORRUPT of a damaged object or
 * ref; to this store that is hostile input like any other (BAD_INPUT, exit
 * 2, as exp import says of a damaged tarball), not damage of its own.
 */
function hostile(source: string): (err: unknown) => never {
  return (err) => {
    if (isCairnError(err, 'CORRUPT')) throw new CairnError('BAD_INPUT', `${source} sent damaged data: ${err.message}`, { cause: err, fields: err.fields });
    throw err;
  };
}

/** An object stream from the remote, its damage (CORRUPT) reported as hostile input as hostile() does. */
async function* hostileAll<T>(items: AsyncIterable<T>, source: string): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (err) {
    hostile(source)(err);
  }
}

/**
 * Fetches experiments from a remote, all or nothing, as `exp import` does:
 * everything read is hostile input. Every object the store lacks is checked
 * against its ID and stored; then flush; then each experiment passes the
 * import's checks (records decode, workspace-path rule, chains whole); then
 * one that diverged from ours is refused (CONFLICT, naming it); only then
 * are the local refs moved, by compare-and-swap, and put back if one fails.
 * Objects fetched for a refused pull reach no ref and go at the next gc.
 */
export async function pullExperiments(store: Store, remote: ObjectBackend, names: string[] | 'all', opts: PullOptions = {}): Promise<PullReport> {
  const source = opts.remoteName ? `remote '${opts.remoteName}'` : 'the remote';
  let targets: Array<{ name: string; state: ObjectId }>;
  if (names === 'all') {
    targets = (await remote.refs.list(EXP_REF_PREFIX).catch(hostile(source))).map((r) => ({ name: r.name.slice(EXP_REF_PREFIX.length), state: r.id })).filter((r) => isValidName(r.name));
  } else {
    const unique = [...new Set(names)];
    if (unique.length === 0) throw new CairnError('BAD_INPUT', 'name at least one experiment to pull, or pass --all');
    targets = [];
    for (const name of unique) {
      checkName(name);
      const state = await remote.refs.get(expRef(name)).catch(hostile(source));
      if (state === null) throw new CairnError('NOT_FOUND', `no experiment '${name}' on ${source}`, { fields: { name } });
      targets.push({ name, state });
    }
  }
  const plans: Array<Omit<PulledExperiment, 'action' | 'tip' | 'checkpoints'>> = [];
  for (const t of targets) plans.push({ ...t, was: await store.refs.get(expRef(t.name)) });

  const moving = plans.filter((p) => p.was !== p.state);
  const reader = { readObject: (id: ObjectId) => remote.get(id).catch(hostile(source)) };
  // Local calls one at a time (the remote's reads still overlap): a store opened with yieldToPriority may close and reopen its index inside a put, and a has() meanwhile would find it closed.
  let local: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = local.then(fn);
    local = p.catch(() => {});
    return p;
  };
  const writer = {
    has: (id: ObjectId) => oneAtATime(() => store.has(id)),
    put: (id: ObjectId, type: Parameters<Store['putObject']>[1], data: Buffer) => oneAtATime(() => store.putObject(id, type, data)),
  };
  const roots = [...new Set(moving.map((p) => p.state))];
  const got = readsInBulk(remote)
    ? await receiveObjects({ ...reader, getMany: (ids) => hostileAll(remote.getMany(ids), source) }, writer, roots, { onProgress: opts.onProgress, untrusted: source })
    : await copyObjects(reader, writer, roots, { concurrency: opts.concurrency, onProgress: opts.onProgress, untrusted: source });
  // Durable before any check reads them back and before any ref.
  await store.flush();

  const results: PulledExperiment[] = [];
  for (const p of plans) {
    let state;
    if (p.was === p.state) state = await readExperimentState(store, p.state, p.name);
    else {
      try {
        state = await checkArrivedExperiment(store, p.name, p.state, source);
      } catch (err) {
        if (!isCairnError(err, 'BAD_INPUT') || !/ is missing /.test(err.message)) throw err;
        // The walk stopped at an object this store had without all it reaches (an interrupted import leaves such): walk it all once more.
        const more = await copyObjects(reader, writer, [p.state], { concurrency: opts.concurrency, untrusted: source, deep: true });
        got.objects += more.objects;
        got.bytes += more.bytes;
        await store.flush();
        state = await checkArrivedExperiment(store, p.name, p.state, source);
      }
    }
    const base = { ...p, tip: state.tip, checkpoints: state.checkpoints };
    if (p.was === p.state) {
      results.push({ ...base, action: 'unchanged' });
      continue;
    }
    if (p.was === null) {
      results.push({ ...base, action: 'created' });
      continue;
    }
    const ours = (await readExperimentState(store, p.was, p.name)).tip;
    if (ours === null || (state.tip !== null && (await isAncestor(store, ours, state.tip)))) results.push({ ...base, action: 'fast-forward' });
    else if (state.tip === null || (await isAncestor(store, state.tip, ours))) results.push({ ...base, action: 'ahead' });
    else {
      throw new CairnError('CONFLICT', `experiment '${p.name}' diverged from ${source}: each has checkpoints the other lacks; nothing was pulled`, {
        hint: `rename yours (cairn exp rename ${p.name} NEW) and pull again, or push it with --force`,
        fields: { name: p.name },
      });
    }
  }

  const moves = results.filter((r) => r.action === 'created' || r.action === 'fast-forward');
  await moveRefsAllOrNothing(store, moves.map((r) => ({ name: r.name, to: r.state, from: r.was })));
  return { experiments: results, objects: got.objects, bytes: got.bytes };
}
