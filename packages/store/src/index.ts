/**
 * @cairn/store: a content-addressed store for large files with chunk-level
 * deduplication, pack files and a LevelDB index. Knows nothing of
 * experiments; upper layers keep their state in records and refs.
 */
export { Store, type OpenOptions, type KvCache } from './store.js';
// The narrow object/ref interface a remote backend implements too (see backend.ts, compliance/).
export type { ObjectBackend, RefBackend } from './backend.js';
export { storeBackend } from './local-backend.js';
export type { CopyManyOptions, ObjectBatch, ReadObject, ReadManyOptions } from './read-many.js';
export { CairnError, isCairnError, type CairnErrorCode, type CairnErrorFields } from './errors.js';
export { encodeCanonical, sha256 } from './codec.js';
export { checkRefName, type DamagedRef, type ListRefsOptions } from './refs.js';
// For other packages' durable small-file writes (the runner's cairn.lock, params files, exp apply).
export { syncDir, writeFileAtomic, type WriteAtomicOptions } from './fsutil.js';
export { readExact } from './read-exact.js';
// A run starts the content threads while its training starts, so the first checkpoint does not wait for them.
export { warmPool } from './io/pool.js';
export { pidAlive } from './pid.js';
// The record encoding is the store's (a record's ID is the hash of these bytes); exported so a copy made elsewhere hashes the same.
export { encodeRecord, decodeRecord, objectLinks } from './objects.js';
// What putObject checks of an object (hash, decoding as its type), for backends that keep objects elsewhere.
export { checkObject } from './raw-objects.js';
export { findStore, findDotCairn, type StoreEnv } from './discover.js';
export { addNamed, resolveObject, namedObject, checkObjectName, STORE_REF_PREFIX, type AddNamedOptions } from './named.js';
export { Lease, holderAlive, currentHolder, type Holder, type LeaseInfo, type LeaseTerms } from './leases.js';
export type { FileManifest } from './objects.js';
export * from './types.js';
