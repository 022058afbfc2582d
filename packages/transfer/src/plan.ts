// The types that export.ts and tar-file.ts share, in a file of their own so
// that neither imports the other.
import type { ObjectId, Store } from '@cairn/store';
import type { Manifest } from './manifest.js';

/** What an export will write: the manifest and, for `--only-tips`, the records made for it. */
export interface ExportPlan {
  manifest: Manifest;
  /** Records that exist only in the tarball (the shallow tips and their state records), by ID. */
  made: Map<ObjectId, Buffer>;
  /** Time stamp of every tar entry: the newest `updated` of the experiments (so equal exports are equal bytes). */
  mtime: Date;
}

/**
 * Where an export reads objects from: an open Store (held throughout; a
 * detached copy holds no lock), or a function that opens one. With a function, the store is closed and opened
 * again every SESSION_MS (export.ts), so its lock is free in between and a running
 * `exp run` records its checkpoints while a long export goes on. Objects are
 * immutable, so a reopened store still holds every planned one (unless a
 * gc removed experiments meanwhile: then the export fails NOT_FOUND).
 */
export type ObjectSource = Store | (() => Promise<Store>);
