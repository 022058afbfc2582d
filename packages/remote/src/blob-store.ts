import { CairnError } from '@cairn/store';

/**
 * A flat key space of whole objects ("blobs"), the one thing an S3 bucket
 * and a shared folder both offer (restic's Backend). Everything cairn keeps
 * on a remote is built on these five calls; conditional puts are what make
 * refs safe to change from several machines without a lock server.
 */
export interface BlobStore {
  /** The remote as the user named it (`s3://bucket/prefix`, `file:///path`), for messages. */
  readonly url: string;
  /**
   * A blob's bytes (or `length` bytes from `offset`) and its current etag
   * (which a range read may leave empty: ranges are read of immutable
   * packs); NOT_FOUND when absent. A range past the end gives the bytes
   * there are: callers that know the length check it.
   */
  get(key: string, range?: ByteRange): Promise<{ data: Buffer; etag: string }>;
  /** Writes a whole blob; a failed condition is CONFLICT and writes nothing. `known` may save hashing `body` again. */
  put(key: string, body: Buffer, cond?: PutCondition, known?: KnownBody): Promise<{ etag: string }>;
  head(key: string): Promise<BlobHead | null>;
  /** Every blob whose key starts with `prefix`, in no promised order. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Removes a blob; NOT_FOUND when absent (S3 does not say: there it always succeeds). */
  delete(key: string): Promise<void>;
  /** Lets go of connections. */
  close(): Promise<void>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** What the caller already knows of a body it puts: its SHA-256 (hex), which S3's request signing would otherwise compute again. */
export interface KnownBody {
  sha256?: string;
}

/** `ifNoneMatch`: create only. `ifMatch`: replace only while the blob's etag is this one. */
export type PutCondition = { ifNoneMatch: true } | { ifMatch: string };

export interface BlobHead {
  size: number;
  etag: string;
  modified: Date;
}

export interface BlobInfo {
  key: string;
  size: number;
  modified: Date;
}

// Keys are built by cairn from hashes and ref names; refusing anything else
// keeps a hostile ref name or index from naming `..` or a folder's internals.
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

/** Refuses a key that is not `/`-separated safe segments (BAD_INPUT). */
export function checkKey(key: string): void {
  if (!key || !key.split('/').every((s) => SEGMENT.test(s))) {
    throw new CairnError('BAD_INPUT', `not a valid remote key: '${key.slice(0, 200)}'`);
  }
}

export function conflict(url: string, key: string, what: string): CairnError {
  return new CairnError('CONFLICT', `${url}: ${key} ${what}`, { fields: { path: url } });
}

export function notFound(url: string, key: string): CairnError {
  return new CairnError('NOT_FOUND', `${url}: no ${key}`, { fields: { path: url } });
}

/** One clear error for a remote that failed: which remote, doing what, and the HTTP status if there was one. */
export function remoteFailure(url: string, doing: string, cause: unknown, status?: number, hint?: string): CairnError {
  const e = cause as { name?: string; message?: string } | undefined;
  // S3 servers that send no error message leave the SDK's placeholder "UnknownError"; the error's name (NoSuchBucket, ...) says more.
  const name = e?.name && e.name !== 'Error' ? e.name : '';
  const message = e?.message && e.message !== 'UnknownError' && e.message !== name ? e.message : '';
  const detail = [name, message].filter(Boolean).join(': ') || String(cause);
  const http = status === undefined ? '' : ` (HTTP ${status})`;
  return new CairnError('REMOTE', `remote ${url}: ${doing} failed${http}: ${detail}`, {
    cause,
    fields: { path: url, ...(status === undefined ? {} : { found: status }) },
    hint,
  });
}
