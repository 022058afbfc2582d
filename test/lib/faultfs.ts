/**
 * The fault-injecting disk for black-box tests: test/faults/faultfs.c,
 * compiled once per test process and preloaded into a cairn process, makes
 * chosen write points (writes, fsyncs, renames, creates, truncates under a
 * folder) fail with ENOSPC or EIO, or kills the process with SIGKILL right
 * before one. See the C file for the variables it reads.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cairn, tempDir, type RunResult } from './cli.js';

const SOURCE = fileURLToPath(new URL('../../faults/faultfs.c', import.meta.url));
let built: Promise<string> | undefined;

/** The shim's path; fails the test (no skip) when no C compiler is present, since CI installs one. */
export function faultfs(): Promise<string> {
  built ??= (async () => {
    const out = join(await tempDir('cairn-faultfs-'), 'faultfs.so');
    const r = spawnSync('cc', ['-O2', '-shared', '-fPIC', '-o', out, SOURCE, '-ldl'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot build the fault-injection shim (cc ${r.error?.message ?? r.stderr})`);
    return out;
  })();
  return built;
}

export type Fault = { kind: 'fail'; at: number; errno: 'ENOSPC' | 'EIO'; sticky?: boolean } | { kind: 'kill'; at: number };

export function describeFault(f: Fault): string {
  return f.kind === 'kill' ? `kill -9 before point ${f.at}` : `${f.errno}${f.sticky ? ' (and every later point)' : ''} at point ${f.at}`;
}

/** Runs cairn with the disk under `root` faulty as `fault` says (or only logging, to count points). */
export async function cairnFaulty(args: string[], cwd: string, root: string, fault: Fault | { kind: 'log'; file: string }, env: Record<string, string | undefined> = {}): Promise<RunResult> {
  const so = await faultfs();
  const vars: Record<string, string> = {
    LD_PRELOAD: so,
    FAULTFS_ROOT: root,
    // libuv may hand file I/O to io_uring, which the shim cannot see.
    UV_USE_IO_URING: '0',
  };
  if (fault.kind === 'log') vars.FAULTFS_LOG = fault.file;
  else if (fault.kind === 'kill') vars.FAULTFS_KILL = String(fault.at);
  else {
    vars.FAULTFS_FAIL = String(fault.at);
    vars.FAULTFS_ERRNO = fault.errno;
    if (fault.sticky) vars.FAULTFS_STICKY = '1';
  }
  return cairn(args, { cwd, env: { ...env, ...vars } });
}

/** The write points a command passes through, in order ("N op path" each). */
export async function writePoints(args: string[], cwd: string, root: string, env: Record<string, string | undefined> = {}): Promise<{ run: RunResult; points: string[] }> {
  const file = join(await tempDir('cairn-faultlog-'), 'points.log');
  const run = await cairnFaulty(args, cwd, root, { kind: 'log', file }, env);
  const points = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { run, points };
}
