/** A full object ID: 64 lowercase hex digits, the SHA-256 of the object's stored bytes. */
export type ObjectId = string;

/**
 * What an object is. `chunk`: raw file bytes. `file`: a manifest listing a
 * file's chunks. `tree`: a directory listing. `record`: an opaque value from
 * an upper layer, with the IDs it links to (so gc can follow them).
 */
export type ObjectType = 'chunk' | 'file' | 'tree' | 'record';

export interface ObjectStat {
  id: ObjectId;
  type: ObjectType;
  /** Logical size: a file's or tree's content bytes, a chunk's or record's encoded bytes. */
  size: number;
}

/** An object's stat with its stored length (the bytes a pack holds for it). */
export interface StoredStat extends ObjectStat {
  stored: number;
}

export interface TreeEntry {
  /**
   * The entry's name. Names are bytes (Linux allows any but '/' and NUL):
   * when they are valid UTF-8 this is the name exactly; when not, it is a
   * display form (invalid bytes as U+FFFD) and `rawName` holds the bytes.
   */
  name: string;
  /** The name's bytes, present only when they are not valid UTF-8. */
  rawName?: Buffer;
  kind: 'file' | 'tree' | 'link';
  /** Object ID for files and trees; the link target for links (a display form when `rawTarget` is set). */
  id: ObjectId;
  /** A link target's bytes, present only when they are not valid UTF-8. */
  rawTarget?: Buffer;
  size: number;
  exec: boolean;
}

export interface StoreStats {
  /** Sum of the sizes of every distinct file stored. */
  logicalBytes: number;
  /** Sum of the blob bytes held in packs (live or not). */
  storedBytes: number;
  /** Bytes of the pack files on disk, trailers included. */
  packBytes: number;
  packs: number;
  chunks: number;
  files: number;
  trees: number;
  records: number;
  dedupRatio: number;
}

export interface VerifyProblem {
  /** The pack file, object or ref the problem was found in. */
  where: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  packsChecked: number;
  objectsChecked: number;
  bytesRead: number;
  problems: VerifyProblem[];
  /** Findings that are not problems (such as packs left by an interrupted write). */
  notes: string[];
}

export interface GcReport {
  dryRun: boolean;
  /** Objects reachable from refs. */
  liveObjects: number;
  deadObjects: number;
  /** Pack bytes that were (or, dry run, would be) freed on disk. */
  bytesFreed: number;
  packsDeleted: number;
  /** Packs whose live objects were copied into new packs (mostly dead, or small ones merged). */
  packsRewritten: number;
  /** New packs written by the rewrite. */
  packsWritten: number;
}

/** A pack whose header, trailer or footer no longer reads, and what repair kept of it. */
export interface DamagedPackReport {
  packId: string;
  /** Where the pack was. */
  path: string;
  reason: string;
  /** Its objects that are still in the store (copied to a new pack, or also held by another). */
  salvaged: number;
  /** Objects it was known to hold whose bytes no longer match their checksum or ID. */
  lost: number;
  /** Where the pack was moved (null if the repair stopped before). */
  quarantinedTo: string | null;
}

export interface RepairReport {
  /** Intact packs indexed from their trailers. */
  packsRead: number;
  /** Objects in the rebuilt index. */
  objectsIndexed: number;
  /** Objects copied out of damaged packs into new ones. */
  objectsSalvaged: number;
  objectsLost: number;
  /** New packs holding salvaged objects. */
  packsWritten: number;
  packsDamaged: DamagedPackReport[];
  /** Where an unreadable index was moved, or null. */
  indexQuarantined: string | null;
  refsQuarantined: Array<{ name: string; path: string; reason: string; movedTo: string }>;
  /** The folder this repair moved things into, or null if it moved nothing. */
  quarantine: string | null;
}

export interface PutOptions {
  /** Called with the bytes consumed so far, for progress bars. */
  onProgress?: (bytes: number) => void;
  /**
   * An earlier version of the same file or folder (the ID a put of it
   * returned): where a large raw file still holds that version's chunks at
   * the same offsets (by the XXH64 the index keeps of each), they are taken
   * without hashing their bytes again; only what changed is chunked and
   * hashed (see ingest-delta.ts). Anything else here is ignored.
   */
  previous?: ObjectId;
}
