/**
 * The runner's side of the checkpoint signal protocol: notice a signal file
 * as soon as it appears, hand it over with its payload, delete it when the
 * checkpoint is recorded (or write `<signal>.error` first when it is not).
 *
 * Notification comes from fs.watch on each signal's folder (inotify on
 * Linux: sub-millisecond), so latency is not bound to a polling interval;
 * a slow poll runs as well because watch notifications can be lost (some
 * network and container file systems never send them).
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pidAlive } from '@cairn/store';
import { writeFileDurable } from './durable.js';
import { parseJsonLenient } from './structured.js';

export interface SignalPayload {
  metrics?: Record<string, unknown>;
  step?: number;
  [key: string]: unknown;
}

export interface Signal {
  /** The signal file (as given to the watcher). */
  path: string;
  /** The parsed content; {} for an empty file or when `error` is set. */
  payload: SignalPayload;
  /** Set when the content could not be used; pass it to fail(). */
  error?: string;
  /** Date.now() when the file was noticed. */
  receivedAt: number;
}

export interface SignalWatcherOptions {
  /** Fallback poll period in ms (default 250). */
  pollMs?: number;
  /**
   * How long an empty file is given to receive content before it counts as
   * an empty payload (default 3 ms): a writer may create the file, then
   * write to it.
   */
  emptySettleMs?: number;
  /** How long incomplete JSON is re-read before it counts as malformed (default 250 ms). */
  maxSettleMs?: number;
  /**
   * Delete signal and `.error` files already present at start() (default
   * true): start() runs before the command, so any such file is left over
   * from an earlier run and must not count as a checkpoint.
   */
  removeStale?: boolean;
}

type PathState = 'idle' | 'reading' | 'pending';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function errorPathFor(signalPath: string): string {
  return signalPath + '.error';
}

/** Checks a payload's shape; returns a reason when it is unusable. */
function checkPayload(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the signal file must hold a JSON object';
  const p = value as SignalPayload;
  if (p.metrics !== undefined && (typeof p.metrics !== 'object' || p.metrics === null || Array.isArray(p.metrics))) {
    return "'metrics' in the signal file must be an object of name: value";
  }
  if (p.step !== undefined && !(typeof p.step === 'number' && Number.isSafeInteger(p.step) && p.step >= 0)) {
    return "'step' in the signal file must be a non-negative integer";
  }
  return undefined;
}

/**
 * A signal file's content: its payload, or the reason it cannot be used
 * (reported back to the script through `<signal>.error`, never thrown).
 */
export function decodeSignal(text: string): { payload: SignalPayload; error?: undefined } | { payload: Record<string, never>; error: string } {
  let parsed: unknown;
  let reason: string | undefined;
  try {
    parsed = parseJsonLenient(text);
    reason = checkPayload(parsed);
  } catch (err) {
    reason = `malformed signal file: ${(err as Error).message}`;
  }
  return reason === undefined ? { payload: parsed as SignalPayload } : { payload: {}, error: reason };
}

export class SignalWatcher {
  readonly paths: readonly string[];
  private readonly opts: Required<SignalWatcherOptions>;
  private readonly state = new Map<string, PathState>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly queue: Signal[] = [];
  private readonly waiters: Array<(s: Signal | null) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;

  constructor(paths: string[], opts: SignalWatcherOptions = {}) {
    this.paths = [...new Set(paths.map((p) => path.resolve(p)))];
    this.opts = {
      pollMs: opts.pollMs ?? 250,
      emptySettleMs: opts.emptySettleMs ?? 3,
      maxSettleMs: opts.maxSettleMs ?? 250,
      removeStale: opts.removeStale ?? true,
    };
    for (const p of this.paths) this.state.set(p, 'idle');
  }

  /** Begins watching. The signal folders need not exist yet. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.opts.removeStale) {
      for (const p of this.paths) {
        await unlink(p).catch(() => undefined);
        await unlink(errorPathFor(p)).catch(() => undefined);
      }
    }
    for (const dir of new Set(this.paths.map((p) => path.dirname(p)))) this.watchDir(dir);
    this.timer = setInterval(() => this.poll(), this.opts.pollMs);
    this.timer.unref();
    this.poll();
  }

  private watchDir(dir: string): void {
    if (this.closed || this.watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (_event, filename) => {
        // Some platforms give no name; then every signal in the folder is checked.
        for (const p of this.paths) {
          if (path.dirname(p) === dir && (filename == null || filename.toString() === path.basename(p))) void this.check(p);
        }
      });
    } catch {
      return; // folder missing or not watchable: the poll covers it and retries
    }
    w.on('error', () => {
      w.close();
      if (this.watchers.get(dir) === w) this.watchers.delete(dir);
    });
    this.watchers.set(dir, w);
  }

  private poll(): void {
    if (this.closed) return;
    for (const p of this.paths) {
      const dir = path.dirname(p);
      if (!this.watchers.has(dir)) this.watchDir(dir);
      void this.check(p);
    }
  }

  /** Reads a signal file that just appeared and queues it. */
  private async check(p: string): Promise<void> {
    if (this.closed || this.state.get(p) !== 'idle') return;
    this.state.set(p, 'reading');
    let signal: Signal | undefined;
    try {
      signal = await this.read(p);
    } finally {
      if (signal && !this.closed) {
        this.state.set(p, 'pending');
        this.deliver(signal);
      } else {
        this.state.set(p, 'idle');
      }
    }
  }

  private async read(p: string): Promise<Signal | undefined> {
    const readOrGone = async (): Promise<string | undefined> => {
      try {
        return await readFile(p, 'utf8');
      } catch {
        return undefined; // gone (or not readable yet): nothing to do
      }
    };
    let text = await readOrGone();
    if (text === undefined) return undefined;
    const receivedAt = Date.now();
    if (text.trim() === '') {
      await sleep(this.opts.emptySettleMs);
      text = await readOrGone();
      if (text === undefined) return undefined;
      if (text.trim() === '') return { path: p, payload: {}, receivedAt };
    }
    // Content written in pieces parses once complete; re-read with a short
    // backoff until it does or the budget runs out.
    const deadline = Date.now() + this.opts.maxSettleMs;
    let delay = 1;
    for (;;) {
      const { payload, error: reason } = decodeSignal(text);
      if (reason === undefined) return { path: p, payload, receivedAt };
      if (Date.now() >= deadline) return { path: p, payload: {}, error: reason, receivedAt };
      await sleep(delay);
      delay = Math.min(delay * 2, 20);
      const again = await readOrGone();
      if (again === undefined) return undefined;
      text = again;
    }
  }

  private deliver(signal: Signal): void {
    const w = this.waiters.shift();
    if (w) w(signal);
    else this.queue.push(signal);
  }

  /** The next signal, in arrival order; null once closed. */
  next(): Promise<Signal | null> {
    if (this.closed) return Promise.resolve(null);
    const s = this.queue.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Signal, void, undefined> {
    for (;;) {
      const s = await this.next();
      if (s === null) return;
      yield s;
    }
  }

  /** Acknowledges a signal: deleting the file releases the waiting script. */
  async ack(signal: Signal): Promise<void> {
    await unlink(signal.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.release(signal.path);
  }

  /**
   * Refuses a signal: the reason goes to `<signal>.error` before the signal
   * is deleted, so a script that sees the signal gone can rely on finding
   * the error file if there is one.
   */
  async fail(signal: Signal, reason: string): Promise<void> {
    await writeFileDurable(errorPathFor(signal.path), reason.endsWith('\n') ? reason : reason + '\n');
    await unlink(signal.path).catch(() => undefined);
    this.release(signal.path);
  }

  private release(p: string): void {
    if (this.state.get(p) !== 'pending') return;
    this.state.set(p, 'idle');
    // A new signal may have been written between the delete and now, and
    // its notification ignored while this one was pending.
    void this.check(p);
  }

  /** Stops watching; pending and future next() calls give null. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) w(null);
  }
}

export const DVC_SIGNAL_FILE = 'DVC_CHECKPOINT';

/** Where DVC 2.x's make_checkpoint() writes its signal for a given root. */
export function dvcSignalPath(root: string): string {
  return path.join(root, '.dvc', 'tmp', DVC_SIGNAL_FILE);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Records which folders a run created for DVC's helper, inside the folder
 * itself: a run killed with -9 cannot clean up, so the next run in the
 * workspace finds this note, adopts those folders as its own and removes
 * them when it ends.
 */
const CREATED_NOTE = 'cairn-created';

/**
 * Makes sure `<root>/.dvc/tmp/` exists for the run, since DVC's helper
 * needs `.dvc/` to find the root and does not create `tmp/`. The returned
 * cleanup removes only what this call (or a killed earlier run) created,
 * and only when empty apart from the signal files, so nothing of the
 * user's is ever deleted.
 */
export async function prepareDvcTmp(root: string): Promise<() => Promise<void>> {
  const dvcDir = path.join(root, '.dvc');
  const tmpDir = path.join(dvcDir, 'tmp');
  const note = path.join(tmpDir, CREATED_NOTE);
  const left = await readFile(note, 'utf8').catch(() => undefined);
  let createdDvc = left === 'dvc' || !(await isDir(dvcDir));
  if (!(await isDir(dvcDir))) await mkdir(dvcDir, { recursive: true });
  const createdTmp = left !== undefined || !(await isDir(tmpDir));
  if (!(await isDir(tmpDir))) await mkdir(tmpDir);
  if (createdTmp) await writeFile(note, createdDvc ? 'dvc' : 'tmp');
  else createdDvc = false;
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    if (!createdTmp) return;
    const signal = path.join(tmpDir, DVC_SIGNAL_FILE);
    await unlink(signal).catch(() => undefined);
    await unlink(errorPathFor(signal)).catch(() => undefined);
    await unlink(note).catch(() => undefined);
    const removedTmp = await rmdir(tmpDir).then(
      () => true,
      () => false,
    );
    if (removedTmp && createdDvc) await rmdir(dvcDir).catch(() => undefined);
  };
}

const SIGNAL_DIR_PREFIX = 'cairn-signal-';

/**
 * A fresh folder under `parent` (the system temp folder) for the run's
 * signal file, named with this process's PID. Folders of runs whose process
 * is gone (killed with -9, so their cleanup never ran) are removed first.
 */
export async function makeSignalDir(parent: string): Promise<string> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^cairn-signal-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }
  return mkdtemp(path.join(parent, `${SIGNAL_DIR_PREFIX}${process.pid}-`));
}
