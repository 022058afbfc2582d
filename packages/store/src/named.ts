/**
 * Named objects: what `cairn store add` puts in gets a ref under `store/`,
 * named by the user or by its own ID, so gc never drops what a user put in
 * and it can be found again by that name. Object IDs and ref names are the
 * store's; experiment names are lineage's (resolveRef there).
 */
import { CairnError } from './errors.js';
import { checkRefName } from './refs.js';
import type { Store } from './store.js';
import type { ObjectId, ObjectType, PutOptions } from './types.js';

export const STORE_REF_PREFIX = 'store/';

/** Refuses a name `addNamed` could not store as the ref `store/<name>` (BAD_INPUT, fields: name). */
export function checkObjectName(name: string): void {
  try {
    checkRefName(`${STORE_REF_PREFIX}${name}`);
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    throw new CairnError(err.code, err.message, { hint: err.hint, fields: { name, ref: `${STORE_REF_PREFIX}${name}` } });
  }
}

export interface AddNamedOptions extends PutOptions {
  /** The name (ref `store/<name>`); without one the ref is `store/<id>`. */
  name?: string;
}

/**
 * Stores a file or folder and names it: the ref `store/<name>`, or
 * `store/<id>` without a name. An invalid name is refused before anything
 * is stored. The ref is set right after the data is stored, so with a
 * store opened `yieldToPriority` nothing is left unnamed across a step aside.
 */
export async function addNamed(store: Store, path: string, opts: AddNamedOptions = {}): Promise<{ id: ObjectId; ref: string; type: ObjectType; size: number }> {
  const { name, ...put } = opts;
  if (name !== undefined) checkObjectName(name);
  const id = await store.putPath(path, put);
  const ref = `${STORE_REF_PREFIX}${name ?? id}`;
  await store.refs.set(ref, id);
  const st = await store.stat(id);
  return { id, ref, type: st.type, size: st.size };
}

/**
 * An object ID, unique ID prefix (4 to 64 hex digits), or name, to a full
 * object ID. A name is looked up as `store/<name>`, then as a ref of its
 * own (`exp/x`). Hex that is also a name resolves to the name when the
 * prefix matches nothing or several objects. NOT_FOUND (fields: id or name)
 * or AMBIGUOUS (fields: id, matches) otherwise.
 */
export async function resolveObject(store: Store, ref: string): Promise<ObjectId> {
  if (/^[0-9a-fA-F]{4,64}$/.test(ref)) {
    try {
      return await store.resolve(ref);
    } catch (err) {
      const named = await namedObject(store, ref);
      if (named) return named;
      throw err;
    }
  }
  const named = await namedObject(store, ref);
  if (!named) throw new CairnError('NOT_FOUND', `no object or name '${ref}' in the store`, { fields: { name: ref } });
  return named;
}

/** The object `store/<name>` or the ref `name` points at; null when neither exists (or the name is not a valid ref name). */
export async function namedObject(store: Store, name: string): Promise<ObjectId | null> {
  for (const candidate of [`${STORE_REF_PREFIX}${name}`, name]) {
    try {
      const id = await store.refs.get(candidate);
      if (id) return id;
    } catch {
      /* not a valid ref name */
    }
  }
  return null;
}
