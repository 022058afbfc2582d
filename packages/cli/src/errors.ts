import type { CairnError, CairnErrorCode } from '@cairn/store';

/** Exit codes, as docs/CLI.md lists them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, locked: 4, interrupted: 130 } as const;

const BY_CODE: Record<CairnErrorCode, number> = {
  NOT_FOUND: EXIT.notFound,
  AMBIGUOUS: EXIT.usage,
  BAD_INPUT: EXIT.usage,
  LOCKED: EXIT.locked,
  CORRUPT: EXIT.failed,
  CONFLICT: EXIT.failed,
  IO: EXIT.failed,
  FORMAT_VERSION: EXIT.usage,
  REMOTE: EXIT.failed,
  FAILED: EXIT.failed,
};

/** Thrown by a command to end with a given exit code after it printed its own output. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** By shape, not instanceof: importing the store only to classify errors would slow every command's start. */
function isCairnError(err: unknown): err is CairnError {
  return err instanceof Error && err.name === 'CairnError' && typeof (err as CairnError).code === 'string' && (err as CairnError).code in BY_CODE;
}

/** Prints `cairn: error: ...` (and a hint) and returns the exit code for `err`. */
export function reportError(err: unknown, verbose: boolean): number {
  if (err instanceof ExitCode) return err.code;
  if (isCairnError(err)) {
    process.stderr.write(`cairn: error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    return BY_CODE[err.code];
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') {
    process.stderr.write('cairn: error: the disk is full; nothing was committed\n');
    return EXIT.failed;
  }
  process.stderr.write(`cairn: error: ${e?.message ?? String(err)}\n`);
  if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write('hint: run again with -v for details\n');
  return EXIT.failed;
}
