/**
 * Errors carry a stable `code` so callers (the CLI, other packages) can map
 * them to exit codes without parsing messages.
 */
export type CairnErrorCode =
  | 'NOT_FOUND' // unknown ID, ref or path (exit 3)
  | 'AMBIGUOUS' // an ID prefix matches several objects (exit 2)
  | 'BAD_INPUT' // malformed argument, file or archive (exit 2)
  | 'CORRUPT' // stored bytes do not match their checksum or ID (exit 1)
  | 'LOCKED' // the store stayed locked past the wait (exit 4)
  | 'CONFLICT' // compare-and-swap on a ref lost (exit 1)
  | 'IO' // the disk refused a write, fsync or rename: full, or an I/O error (exit 1)
  | 'FORMAT_VERSION' // the store has a format this cairn does not read (exit 2)
  | 'REMOTE' // a remote (S3, a shared folder) could not be reached or answered with an error (exit 1)
  | 'FAILED'; // anything else that failed (exit 1)

/**
 * What an error is about, for callers that act on it: messages are for
 * people and may be reworded, these fields are not. Each code's fields are
 * listed in packages/store/README.md ("Errors").
 */
export interface CairnErrorFields {
  /** The object ID (full, or the prefix as given) that is missing, damaged or ambiguous. */
  id?: string;
  /** What a missing object was reached from: a record ID, or 'root'. */
  from?: string;
  /** A ref name (`exp/x`, `store/y`). */
  ref?: string;
  /** An object or experiment name, as given. */
  name?: string;
  /** The file or folder concerned. */
  path?: string;
  /** The process holding what was wanted. */
  pid?: number;
  /** What an ambiguous prefix or name matches. */
  matches?: string[];
  /** The system's error code behind an IO error (ENOSPC, EDQUOT, EIO). */
  errno?: string;
  found?: unknown;
  expected?: unknown;
}

export class CairnError extends Error {
  readonly code: CairnErrorCode;
  /** An optional second line telling the user what to do. */
  readonly hint?: string;
  readonly fields: Readonly<CairnErrorFields>;
  constructor(code: CairnErrorCode, message: string, opts: { hint?: string; cause?: unknown; fields?: CairnErrorFields } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CairnError';
    this.code = code;
    this.hint = opts.hint;
    this.fields = Object.freeze({ ...opts.fields });
  }

  /** `{ code, message, hint?, ...fields }`: what a --json error report or a log line needs. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint === undefined ? {} : { hint: this.hint }), ...this.fields };
  }
}

export function isCairnError(err: unknown, code?: CairnErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}

const NO_SPACE = /ENOSPC|EDQUOT|No space left on device|Disk quota exceeded/;
const IO_ERROR = /EIO\b|Input\/output error/;

/**
 * A failed write, fsync or rename as one clear error: a full disk or an I/O
 * error names the file where the system said which. Errors that are not
 * about the disk (a CairnError, a bug) pass through unchanged.
 */
export function ioFailure(err: unknown, doing: string): Error {
  if (err instanceof CairnError) return err;
  const e = err as NodeJS.ErrnoException;
  const text = `${e?.code ?? ''} ${e?.message ?? ''} ${(e?.cause as Error | undefined)?.message ?? ''}`;
  const where = e?.path ? ` (${e.path})` : '';
  const path = e?.path === undefined ? {} : { path: String(e.path) };
  if (NO_SPACE.test(text)) {
    return new CairnError('IO', `the disk is full: ${doing} failed${where}; what this command had not committed was discarded`, {
      hint: 'free some space and run it again',
      cause: err,
      fields: { errno: /EDQUOT|quota/.test(text) ? 'EDQUOT' : 'ENOSPC', ...path },
    });
  }
  if (IO_ERROR.test(text)) {
    return new CairnError('IO', `I/O error while ${doing}${where}; what this command had not committed was discarded`, {
      hint: 'check the disk (dmesg), then run cairn fsck',
      cause: err,
      fields: { errno: 'EIO', ...path },
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}
