import { CairnError } from '@cairn/store';

/*
 * The one rule for a path a record names in a workspace (an out, a dep, a
 * params file). Records travel (export/import, remotes), so a path in one
 * is hostile input: whatever names it is later written to by `exp apply`
 * and `exp run --rev`. The rule is syntactic and strict on purpose: the
 * pipeline parser only ever produces normalised relative POSIX paths, so
 * anything else did not come from cairn.
 */

/** Folders no record may reach into, at any depth: cairn's and DVC's own state and git's (hooks run code). */
export const RESERVED_DIRS = ['.cairn', '.dvc', '.git'] as const;
/** Workspace files cairn itself owns; a record naming them would overwrite cairn's own bookkeeping. */
export const RESERVED_FILES = ['cairn.lock', 'cairn.journal'] as const;

const MAX_PATH = 4096;

// Windows and some mounts (SMB, case-insensitive filesystems) treat `.GIT`,
// `.git.` and `.git ` as `.git`: compare the name as those would.
function fold(segment: string): string {
  return segment.toLowerCase().replace(/[. ]+$/, '');
}

/**
 * Why `p` is not a safe workspace path, or undefined when it is: relative,
 * normalised (no `.`, `..` or empty segments), POSIX separators only, no
 * NUL, not into `.cairn`, `.dvc` or `.git`, not cairn's own files.
 */
export function workspacePathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string') return 'it is not a string';
  if (p === '') return 'it is empty';
  if (p.length > MAX_PATH) return `it is longer than ${MAX_PATH} characters`;
  if (p.includes('\0')) return 'it contains a NUL byte';
  if (p.includes('\\')) return 'it contains a backslash';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'it is absolute';
  const segments = p.split('/');
  for (const s of segments) {
    if (s === '') return 'it has an empty segment';
    if (s === '..') return 'it leaves the workspace';
    if (s === '.') return 'it is not normalised';
    const f = fold(s);
    if ((RESERVED_DIRS as readonly string[]).includes(f)) return `it reaches into ${s}`;
  }
  if (segments.length === 1 && (RESERVED_FILES as readonly string[]).includes(fold(p))) return `it is cairn's own ${p}`;
  return undefined;
}

export function isWorkspacePath(p: unknown): p is string {
  return workspacePathProblem(p) === undefined;
}

/** Throws BAD_INPUT naming `what` (e.g. "checkpoint abc1234: out") when `p` breaks the rule. */
export function checkWorkspacePath(p: unknown, what: string): asserts p is string {
  const why = workspacePathProblem(p);
  if (why !== undefined) {
    const shown = typeof p === 'string' ? JSON.stringify(p).slice(1, -1) : String(p);
    throw new CairnError('BAD_INPUT', `${what} '${shown}' is not a safe workspace path: ${why}`, {
      hint: 'records may only name relative paths inside the workspace; this record was not written by cairn',
    });
  }
}

/** Whether `a` is `b` or inside it, or `b` inside `a` (POSIX workspace paths). */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
}
