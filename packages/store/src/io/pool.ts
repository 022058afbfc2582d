/**
 * ReadPool: a few worker threads that read byte ranges of open files into
 * the arena (see arena.ts) and hash them there, so that on a
 * multi-core machine reading and SHA-256 (ingest) or XXH64 checks (restore)
 * run in parallel and off the main thread, with no copy beyond the kernel's
 * read and nothing transferred between threads but addresses and hashes.
 *
 * One pool per process, started on first use; its threads do not keep the
 * process alive while idle.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { CairnError } from '../errors.js';
import { arena } from './arena.js';

/** A byte range of an open file and where in the arena it goes. */
export interface ArenaRead {
  fd: number;
  pos: number;
  len: number;
  addr: number;
}

export interface PoolJob {
  reads: ArenaRead[];
  /** SHA-256 of arena bytes [addr, addr + len) once read. */
  sha?: { addr: number; len: number };
  /** XXH64 of each of these arena ranges once read. */
  xxh?: Array<{ addr: number; len: number }>;
  /**
   * The XXH64 each xxh range must have (8 big-endian bytes each): with it,
   * `writes` are done only if every range matches (else the reply names
   * the first that does not).
   */
  expect?: Uint8Array;
  /** Arena ranges to write to open files once read and checked. */
  writes?: ArenaWrite[];
  /**
   * Content-defined cuts of these arena ranges taken as one stream that
   * starts a chunk at file offset `base` (see chunker/resync.ts); once read.
   */
  cdc?: {
    ranges: Array<{ addr: number; len: number }>;
    base: number;
    minSize: number;
    avgSize: number;
    maxSize: number;
    /**
     * Also SHA-256 and XXH64 of every chunk between two of the cuts, while
     * it is in cache (of a chunk across two ranges, SHA-256 only: its XXH64
     * comes as zeros, to be taken where it is gathered).
     */
    hash?: boolean;
    /** With hash: false leaves every XXH64 as zeros (for a file whose chunks are mostly stored already, where few need one). */
    xxh?: boolean;
    /** `base` is a true cut (a chunk starts there): with hash, the chunk from it to the first cut is hashed too, first. */
    startsChunk?: boolean;
  };
  /** Arena copies done after the reads, before any hash. */
  copies?: Array<{ from: number; to: number; len: number }>;
}

/** Arena bytes to write at a position of an open file. */
export interface ArenaWrite {
  fd: number;
  pos: number;
  addr: number;
  len: number;
}

/** Main thread → worker. */
export interface PoolRequest extends PoolJob {
  job: number;
}

/** Worker → main thread. */
export interface PoolReply {
  job: number;
  sha?: Uint8Array;
  /** 8 bytes (big-endian XXH64) per xxh range. */
  xxh?: Uint8Array;
  /** A read that hit the end of its file: its index and the bytes it got. */
  short?: { read: number; got: number };
  /** The first xxh range whose XXH64 is not the expected one (nothing was written). */
  mismatch?: number;
  /** The cdc job's cuts, absolute, and its scan state at the end (hash, length). */
  cuts?: Float64Array;
  cdcEnd?: { h: number; len: number };
  /** With cdc.hash: 40 bytes (SHA-256, XXH64) per chunk between consecutive cuts (from base on, with cdc.startsChunk). */
  chunkHashes?: Uint8Array;
  error?: { message: string; code?: string };
}

export interface PoolResult {
  sha?: Buffer;
  xxh?: Buffer[];
  /** See PoolReply.mismatch. */
  mismatch?: number;
  /** See PoolJob.cdc. */
  cuts?: number[];
  cdcEnd?: { h: number; len: number };
  /** See PoolReply.chunkHashes. */
  chunkHashes?: Buffer;
}

interface Pending {
  req: PoolJob;
  short?: (read: ArenaRead, at: number) => Error;
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, Pending>;
  /** Sum of the weights of its jobs. */
  load: number;
  dead: boolean;
}

/**
 * What a thread holds at once, in weight: a scan (a cdc job, tens of MiB)
 * weighs 2, anything else 1. So a thread holds one scan, or two smaller
 * jobs (the next is there when one ends), and the rest wait here for
 * whichever thread is free first. (With two scans allowed, one thread took a
 * second 24 MiB scan behind its first while the other, briefly full of
 * small copy jobs, then sat idle for most of a 1 GiB ingest; with one job of
 * any kind, a file of many small tensors waited on a round trip per chunk.)
 */
const THREAD_LOAD = 2;
const weight = (job: PoolJob) => (job.cdc ? 2 : 1);

export class ReadPool {
  private threads: Thread[] = [];
  private nextJob = 1;
  /** Jobs not yet sent to a thread, oldest first. */
  private waiting: Array<{ id: number; p: Pending }> = [];
  private outstanding = 0;
  private jobs = 0;

  constructor(private size: number) {}

  /** Jobs run so far (for tests: which path a put took). */
  get jobsRun(): number {
    return this.jobs;
  }

  /** Whether its threads have been started (by a job or warm()); they stay until the process ends. */
  get started(): boolean {
    return this.threads.length > 0;
  }

  get threadCount(): number {
    return this.size;
  }

  /** Jobs a caller should keep queued per stream to keep every thread busy. */
  get window(): number {
    return Math.max(8, 2 * this.size);
  }

  /** Changes the thread count: new threads start on the next job, surplus idle ones stop. */
  resize(n: number): void {
    this.size = n;
    while (this.threads.length > n) {
      const idle = this.threads.find((t) => t.jobs.size === 0);
      if (!idle) break;
      idle.dead = true;
      this.threads = this.threads.filter((t) => t !== idle);
      void idle.worker.terminate();
    }
  }

  private spawn(): Thread {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { workerData: { memory: arena().memory } });
    const thread: Thread = { worker, jobs: new Map(), load: 0, dead: false };
    worker.on('message', (r: PoolReply) => this.settle(thread, r));
    const fail = (err: Error) => {
      if (thread.dead) return;
      thread.dead = true;
      this.threads = this.threads.filter((t) => t !== thread);
      const jobs = [...thread.jobs.values()];
      thread.jobs.clear();
      this.outstanding -= jobs.length;
      // With no thread left, what waits would wait forever.
      if (this.threads.length === 0) {
        jobs.push(...this.waiting.map((w) => w.p));
        this.outstanding -= this.waiting.length;
        this.waiting = [];
      }
      this.refresh();
      for (const j of jobs) j.reject(new CairnError('FAILED', `read thread failed: ${err.message}`, { cause: err }));
      this.pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    worker.unref();
    return thread;
  }

  /** Threads keep the process alive only while they have work. */
  private refresh(): void {
    for (const t of this.threads) {
      if (this.outstanding > 0) t.worker.ref();
      else t.worker.unref();
    }
  }

  private settle(thread: Thread, r: PoolReply): void {
    const p = thread.jobs.get(r.job);
    if (!p) return;
    thread.jobs.delete(r.job);
    thread.load -= weight(p.req);
    if (--this.outstanding === 0) this.refresh();
    this.pump();
    if (r.error) {
      p.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
    } else if (r.short) {
      const read = p.req.reads[r.short.read];
      const at = read.pos + r.short.got;
      p.reject(p.short?.(read, at) ?? new CairnError('FAILED', `file ended at byte ${at} while reading it: was it changed or truncated meanwhile?`));
    } else {
      const out: PoolResult = {};
      if (r.sha) out.sha = Buffer.from(r.sha.buffer, r.sha.byteOffset, r.sha.byteLength);
      if (r.xxh) out.xxh = p.req.xxh!.map((_, i) => Buffer.from(r.xxh!.buffer, r.xxh!.byteOffset + 8 * i, 8));
      if (r.mismatch !== undefined) out.mismatch = r.mismatch;
      if (r.cuts) out.cuts = Array.from(r.cuts);
      if (r.cdcEnd) out.cdcEnd = r.cdcEnd;
      if (r.chunkHashes) out.chunkHashes = Buffer.from(r.chunkHashes.buffer, r.chunkHashes.byteOffset, r.chunkHashes.byteLength);
      p.resolve(out);
    }
  }

  /**
   * Runs a job on a worker thread: its reads (into the arena), then its
   * hashes, then (if every expected XXH64 matches) its writes. The files must stay open, and the arena ranges untouched, until
   * the promise settles. `short` makes the error for a read that hits the
   * end of its file (default: FAILED, the file changed while being read).
   */
  run(job: PoolJob, short?: (read: ArenaRead, at: number) => Error): Promise<PoolResult> {
    while (this.threads.length < this.size) this.threads.push(this.spawn());
    this.jobs++;
    const id = this.nextJob++;
    return new Promise<PoolResult>((resolve, reject) => {
      this.waiting.push({ id, p: { req: job, short, resolve, reject } });
      if (this.outstanding++ === 0) this.refresh();
      this.pump();
    });
  }

  /** Starts every thread now (idle threads keep nothing alive), so a first job later does not wait for their start-up. */
  warm(): void {
    while (this.threads.length < this.size) this.threads.push(this.spawn());
  }

  /** Sends waiting jobs to the least busy threads that have room. */
  private pump(): void {
    while (this.waiting.length > 0) {
      const w = weight(this.waiting[0].p.req);
      let thread: Thread | undefined;
      for (const t of this.threads) if (t.load + w <= THREAD_LOAD && (!thread || t.load < thread.load)) thread = t;
      if (!thread) return;
      const { id, p } = this.waiting.shift()!;
      thread.jobs.set(id, p);
      thread.load += w;
      thread.worker.postMessage({ job: id, ...p.req } satisfies PoolRequest);
    }
  }
}

let shared: ReadPool | undefined;
let configured: number | undefined;

/** The most threads a pool may have, whatever is asked (each holds a few MiB of stack and a V8 isolate). */
export const MAX_THREADS = 256;

/**
 * The pool size a process gets: `setPoolThreads`, else CAIRN_THREADS, else
 * one thread per core the process may use (availableParallelism honours
 * CPU affinity and cgroup limits), at least 2 so that reading and hashing
 * overlap even on one core.
 */
export function poolThreads(env: NodeJS.ProcessEnv = process.env): number {
  if (configured !== undefined) return configured;
  const raw = env.CAIRN_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = parseThreads(raw);
    if (n === undefined) throw new CairnError('BAD_INPUT', `CAIRN_THREADS must be a whole number from 1 to ${MAX_THREADS}, not '${raw}'`);
    return n;
  }
  return Math.max(2, Math.min(MAX_THREADS, availableParallelism()));
}

function parseThreads(raw: string | number): number | undefined {
  const n = typeof raw === 'number' ? raw : /^[0-9]+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  return Number.isSafeInteger(n) && n >= 1 && n <= MAX_THREADS ? n : undefined;
}

/**
 * Sets the pool size for this process (Store.open's `threads`). The pool is
 * one per process, so the last setting wins; a running pool grows to it or
 * retires threads as they go idle.
 */
export function setPoolThreads(n: number): void {
  if (parseThreads(n) === undefined) throw new CairnError('BAD_INPUT', `threads must be a whole number from 1 to ${MAX_THREADS}, not ${n}`);
  configured = n;
  shared?.resize(n);
}

/**
 * Starts the process's read pool now: for a caller that knows large
 * content will follow while it waits anyway (a run waiting for its
 * training's first checkpoint), so that content does not wait for
 * threads to start.
 */
export function warmPool(): void {
  readPool().warm();
}

/** Whether this process's read pool has started its threads (without starting them). */
export function poolStarted(): boolean {
  return shared?.started ?? false;
}

/** The process's read pool, sized by poolThreads(). */
export function readPool(): ReadPool {
  shared ??= new ReadPool(poolThreads());
  return shared;
}
