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
  | 'FAILED'; // anything else that failed (exit 1)

export class CairnError extends Error {
  readonly code: CairnErrorCode;
  /** An optional second line telling the user what to do. */
  readonly hint?: string;
  constructor(code: CairnErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CairnError';
    this.code = code;
    this.hint = opts.hint;
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
  if (NO_SPACE.test(text)) {
    return new CairnError('IO', `the disk is full: ${doing} failed${where}; what this command had not committed was discarded`, {
      hint: 'free some space and run it again',
      cause: err,
    });
  }
  if (IO_ERROR.test(text)) {
    return new CairnError('IO', `I/O error while ${doing}${where}; what this command had not committed was discarded`, {
      hint: 'check the disk (dmesg), then run cairn fsck',
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}
