/**
 * The environment a stage's command runs with (docs/CLI.md, "Environment" and "Signal protocol").
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunEnvOptions {
  /** The workspace (absolute). */
  root: string;
  expName: string;
  /** The step the next checkpoint will get. */
  step: number;
  /** True when continuing an experiment from its tip. */
  resume: boolean;
  /**
   * True when the run starts from a recorded checkpoint (a resume, a
   * changed-params branch or --rev): DVC 2.x set DVCLIVE_RESUME for every
   * such run, so DVCLive goes on from its summary's step. Defaults to `resume`.
   */
  fromCheckpoint?: boolean;
  /**
   * DVC 2.x's `live: {DIR: {summary, html}}`: DIR relative to the folder the
   * command runs in, as DVC passed it.
   */
  live?: { path: string; summary: boolean; html: boolean };
  /** cairn's own signal file (absolute). */
  signalPath: string;
  /** DVC_ROOT; defaults to `root`. */
  dvcRoot?: string;
  /** The folder holding cairn.py; defaults to pythonModuleDir(). */
  pythonDir?: string;
  /** Inherited environment; defaults to process.env. */
  base?: NodeJS.ProcessEnv;
  /**
   * The cairn process's PID, given as CAIRN_PID so the helpers stop
   * waiting when cairn dies (a killed cairn cannot delete the signal);
   * defaults to this process.
   */
  cairnPid?: number;
}

/** Absolute path of the folder holding cairn.py (packages/runner/python). */
export function pythonModuleDir(): string {
  // Compiled to dist/env.js, so ../python is the package's python folder.
  return fileURLToPath(new URL('../python', import.meta.url));
}

export function buildRunEnv(opts: RunEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.base ?? process.env)) if (v !== undefined) env[k] = v;
  // A command run from inside another cairn or DVC run must not inherit
  // that run's resume flags.
  delete env.CAIRN_RESUME;
  delete env.DVCLIVE_RESUME;
  const pythonDir = opts.pythonDir ?? pythonModuleDir();
  Object.assign(env, {
    CAIRN_ROOT: opts.root,
    CAIRN_EXP_NAME: opts.expName,
    CAIRN_STEP: String(opts.step),
    CAIRN_CHECKPOINT: '1',
    CAIRN_CHECKPOINT_SIGNAL: opts.signalPath,
    CAIRN_PID: String(opts.cairnPid ?? process.pid),
    DVC_CHECKPOINT: '1',
    DVC_ROOT: opts.dvcRoot ?? opts.root,
    PYTHONPATH: env.PYTHONPATH ? `${pythonDir}${path.delimiter}${env.PYTHONPATH}` : pythonDir,
  });
  if (opts.resume) env.CAIRN_RESUME = '1';
  if (opts.fromCheckpoint ?? opts.resume) env.DVCLIVE_RESUME = '1';
  if (opts.live) {
    // "1"/"0", as DVC 2.x passed them (str(int(flag))): DVCLive 0.x reads
    // them with bool(int(...)), which fails on "true".
    env.DVCLIVE_PATH = opts.live.path;
    env.DVCLIVE_SUMMARY = opts.live.summary ? '1' : '0';
    env.DVCLIVE_HTML = opts.live.html ? '1' : '0';
  }
  return env;
}
