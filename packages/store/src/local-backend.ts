import type { ObjectBackend } from './backend.js';
import type { Store } from './store.js';

/** An open local pack store as an ObjectBackend (the compliance suite's reference backend). */
export function storeBackend(store: Store): ObjectBackend {
  return {
    put: (id, type, data) => store.putObject(id, type, data),
    get: (id) => store.readObject(id),
    has: (id) => store.has(id),
    stat: (id) => store.stat(id),
    list: (opts) => store.listObjects(opts),
    refs: {
      get: (name) => store.refs.get(name),
      set: (name, id, expected) => store.refs.set(name, id, expected),
      delete: (name, expected) => store.refs.delete(name, expected),
      list: (prefix) => store.refs.list(prefix),
    },
    flush: () => store.flush(),
    close: () => store.close(),
  };
}
