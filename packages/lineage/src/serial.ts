import type { Store } from '@cairn/store';

/*
 * The store lock keeps other processes out, but refs.set's compare-and-swap
 * is a read then a write with awaits between, so two async writers in one
 * process could both pass the compare. Every lineage write on a Store goes
 * through this queue, which makes read-decide-write atomic in-process too.
 */
const queues = new WeakMap<Store, Promise<unknown>>();

export function serialized<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(store) ?? Promise.resolve();
  const run = prev.then(fn);
  queues.set(
    store,
    run.then(
      () => undefined,
      () => undefined,
    ),
  );
  return run;
}
