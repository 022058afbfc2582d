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
