import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

const CLI_ENTRY = fileURLToPath(new URL('../bin/cairn.js', import.meta.url));
/** Niceness of a background push (0 normal, 19 lowest): below the training and cairn's own recording. */
export const PUSH_NICE = 10;

/**
 * `exp run --push`: after each checkpoint, `cairn exp push NAME` in a child
 * process, so the training never waits on the network (the child takes
 * the store lock only to plan from local reads, then sends from a detached
 * copy). Pushes do not pile up: a checkpoint recorded while one runs
 * starts one more when it ends, which sends every checkpoint so far.
 */
export class AutoPush {
  private child: ChildProcess | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private name: string | undefined;
  /** The last push's outcome: undefined before any, else its error line or null when it worked. */
  private lastError: string | null | undefined;
  private warned = false;

  constructor(
    private readonly remote: string | undefined,
    private readonly store: string | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  /** After a checkpoint of `name`: start a push, or one more after the one running. */
  checkpoint(name: string): void {
    this.name = name;
    if (this.running) this.again = true;
    else this.start();
  }

  private start(): void {
    const args = [CLI_ENTRY, 'exp', 'push', this.name!, '--json', ...(this.remote !== undefined ? ['-r', this.remote] : []), ...(this.store !== undefined ? ['--store', this.store] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    // The push is background work: on a machine with few cores its CPU (start-up,
    // reading and hashing packs) competes with the training and with the next
    // checkpoint's recording, so it yields to both. Best effort: a host that
    // refuses (no such process yet, a sandbox) still pushes, at normal priority.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, PUSH_NICE);
      } catch {
        // keep the default priority
      }
    }
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    this.running = new Promise<void>((resolve) => {
      child.on('error', (err) => (stderr += `cairn: error: ${err.message}\n`));
      child.on('close', (code) => {
        this.child = undefined;
        this.running = undefined;
        if (code === 0) {
          this.lastError = null;
          this.warned = false;
        } else {
          const line = stderr.split('\n').find((l) => l.startsWith('cairn: error: ')) ?? `cairn exp push exited ${code}`;
          this.lastError = line.replace(/^cairn: error: /, '');
          // One line per run of failures, not one per checkpoint; the next checkpoint tries again.
          if (!this.warned) this.warn(`pushing '${this.name}' failed (tried again at the next checkpoint): ${this.lastError}`);
          this.warned = true;
        }
        if (this.again) {
          this.again = false;
          this.start();
        }
        resolve();
      });
    });
  }

  /** The push child running now, if any (its process ID). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Waits for the push running and the one queued after it; resolves to the last one's error, or null if it worked (or none ran). */
  async finish(): Promise<string | null> {
    while (this.running) await this.running;
    return this.lastError ?? null;
  }

  /** Stops a push in flight (an interrupted run does not wait on the network). */
  stop(): void {
    this.again = false;
    this.child?.kill('SIGTERM');
  }
}
