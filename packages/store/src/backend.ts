import type { ObjectId, ObjectStat, ObjectType } from './types.js';

/**
 * What a place that keeps a store's objects and refs must provide: the
 * narrow set that a local pack store and a remote object store (S3, a
 * plain folder) can both offer, and that the compliance suite
 * (compliance/) pins down. Objects are addressed by the SHA-256 of their
 * stored bytes, as docs/FORMAT.md describes them; how they are laid out
 * (packs, one file per object, ...) is the backend's business.
 *
 * Deliberately absent: chunking, restoring to disk, garbage collection and
 * repair. Those sit above a backend (or are specific to one layout), so a
 * new backend only has to move bytes and keep refs.
 *
 * Errors are CairnErrors: NOT_FOUND for a missing object or ref,
 * BAD_INPUT for bytes that do not match their ID or type, CONFLICT for a
 * ref that is not what `expected` says.
 */
export interface ObjectBackend {
  /**
   * Stores an object's bytes under `id`, checking that they hash to it and
   * decode as `type`. Idempotent: resolves to whether the object was new.
   * Durable and listed once flush() resolves; has/stat/get see it at once.
   */
  put(id: ObjectId, type: ObjectType, data: Buffer): Promise<boolean>;
  /** An object's type and stored bytes, checked against corruption. */
  get(id: ObjectId): Promise<{ type: ObjectType; data: Buffer }>;
  /** Whether `id` is stored (anything that is not an ID is not). */
  has(id: ObjectId): Promise<boolean>;
  /** An object's type and content size (a file's or tree's content, else its stored length). */
  stat(id: ObjectId): Promise<ObjectStat>;
  /** Every flushed object (optionally of some types), in ID order. */
  list(opts?: { types?: ObjectType[] }): AsyncIterable<ObjectStat>;
  /** Named pointers to objects; each change flushes puts first, so a ref never names what is not durable. */
  readonly refs: RefBackend;
  /** Makes every put so far durable. */
  flush(): Promise<void>;
  /**
   * Only where a gc may run beside writers (a remote): whether objects
   * has() reported present have since been condemned by it. They read as
   * absent from then on, so copying the same roots again sends them; a
   * writer asks before it moves a ref onto objects it did not send.
   */
  recheckCondemned?(): Promise<boolean>;
  /** Flushes, then lets go of whatever the backend holds (locks, connections). */
  close(): Promise<void>;
}

/**
 * Refs: names like `exp/foo` (see refs.ts, checkRefName) pointing at object
 * IDs. `expected`: undefined = unconditional, null = must not exist, an ID
 * = must be the current value (compare-and-swap; CONFLICT otherwise).
 */
export interface RefBackend {
  get(name: string): Promise<ObjectId | null>;
  set(name: string, id: ObjectId, expected?: ObjectId | null): Promise<void>;
  /** Removes a ref; NOT_FOUND if there is none. Objects it named stay until collected. */
  delete(name: string, expected?: ObjectId | null): Promise<void>;
  /** Refs whose names start with `prefix`, sorted by name. */
  list(prefix?: string): Promise<Array<{ name: string; id: ObjectId }>>;
}
