import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The committed bin entry, run exactly as npm's link runs it. */
export const CAIRN_BIN = fileURLToPath(new URL('../../../packages/cli/bin/cairn.js', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
}

/** Starts `cairn ARGS` as its own process (no wrapper: signals reach cairn itself). */
export function startCairn(args: string[], opts: RunOptions): ChildProcess {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', CAIRN_STORE: undefined, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return spawn(process.execPath, [CAIRN_BIN, ...args], { cwd: opts.cwd, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess, input?: string | Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

export function cairn(args: string[], opts: RunOptions): Promise<RunResult> {
  return collect(startCairn(args, opts), opts.input);
}

const made: string[] = [];
// Each test file runs in its own process: its folders go when it exits,
// unless CAIRN_KEEP_TEST_DIRS is set to look at them.
process.on('exit', () => {
  if (process.env.CAIRN_KEEP_TEST_DIRS) return;
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export async function tempDir(prefix = 'cairn-test-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
