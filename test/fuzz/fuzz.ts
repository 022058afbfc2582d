// The fuzz harness: inputs are corpus files mutated deterministically from a
// seed, so a finding is reproduced by its seed and iteration alone; each
// target runs in a child process so that a decoder stuck in a loop, or one
// that takes the whole process down (V8 aborts on some out-of-memory
// failures, which no catch sees), is a finding instead of a stuck or dead
// test run.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork } from 'node:child_process';

/** The kept corpus, in the source tree (not dist/): crashing inputs written here are meant to be committed. */
export const CORPUS_DIR = fileURLToPath(new URL('../../fuzz/corpus/', import.meta.url));

/** How long one input may take before it counts as a hang. */
export const HANG_MS = Number(process.env.CAIRN_FUZZ_HANG_MS ?? 10_000);

export interface Finding {
  target: string;
  /** null for a corpus file replayed as is. */
  iteration: number | null;
  kind: 'crash' | 'hang';
  message: string;
  input: Buffer;
  /** Where the input was kept. */
  kept?: string;
}

/** mulberry32: small, fast, and the same sequence on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export function seedOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

// Byte sequences that tend to reach the edges of text and binary decoders.
const TOKENS = [
  '{', '}', '[', ']', ':', ',', '"', "'", '\n', '- ', ': ', '&a ', '*a', '<<: *a', '!!binary ', '!!js/function ', '? ', '|', '>',
  '---\n', '...\n', '%YAML 1.2\n', '\t', '\\', '\\u0000', '\0', '\u2028', '\ud800', 'NaN', 'Infinity', '-Infinity', '1e999', '-0',
  '9007199254740993', '0x10', 'null', 'true', '~', '__proto__', 'constructor', 'prototype', '..', '../', '/', '/etc/passwd',
  'C:\\x', 'a'.repeat(300), '[[[[[[[[[[', ']]]]]]]]]]', '{"a":{"a":{"a":', '0'.repeat(64), 'f'.repeat(64),
].map((s) => Buffer.from(s));

// Values that JSON-shaped decoders (records, manifests) must check for, whatever field they land in.
const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 0.5, 2 ** 53, -(2 ** 31), 1e308, '', ' ', '..', '../x', '/abs', 'a/../../b', 'a\\b', '.cairn', 'x\u0000y',
  '__proto__', 'constructor', 'x'.repeat(5000), 'ab'.repeat(32), 'AB'.repeat(32), [], {}, [null], [[]], { '': 1 }, { __proto__: null, a: 1 },
  'cairn.checkpoint', 'cairn.experiment', 'cairn.baseline', '2026-13-45T99:99:99Z', 'file', 'tree', 'chunk', 'record',
];

/** Edits parsed JSON, so that the input gets past JSON.parse and reaches the decoder's own checks. */
function mutateJson(text: string, r: () => number): Buffer | null {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return null;
  }
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const holder = { root };
  const edits = 1 + Math.floor(r() * 3);
  for (let e = 0; e < edits; e++) {
    // Every container with a key into it, the root's holder included.
    const slots: [Record<string, unknown> | unknown[], string | number][] = [[holder as Record<string, unknown>, 'root']];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach((x, i) => (slots.push([v, i]), walk(x)));
      else if (v && typeof v === 'object') for (const k of Object.keys(v)) slots.push([v as Record<string, unknown>, k]), walk((v as Record<string, unknown>)[k]);
    };
    walk(holder.root);
    const [c, k] = pick(slots);
    const at = c as Record<string | number, unknown>;
    switch (Math.floor(r() * 5)) {
      case 0:
        if (Array.isArray(c)) c.splice(k as number, 1);
        else if (c !== (holder as object)) delete at[k];
        break;
      case 1: // a key from elsewhere in the document, or an odd one, with an odd value
        if (!Array.isArray(c)) at[pick([...slots.map((s) => String(s[1])), '__proto__', '', '../x'])] = pick(ODD_VALUES);
        break;
      case 2: // the value of another slot (right shape, wrong place)
        at[k] = structuredClone(pick(slots)[0][pick(slots)[1] as never]);
        break;
      default:
        at[k] = structuredClone(pick(ODD_VALUES));
    }
  }
  return Buffer.from(JSON.stringify(holder.root) ?? 'null');
}

/** One mutated input: 1–4 edits of a corpus entry, sometimes spliced with another; JSON entries are often edited as JSON. */
export function mutate(corpus: Buffer[], seed: number): Buffer {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const base = pick(corpus);
  if (r() < 0.5 && (base[0] === 0x7b || base[0] === 0x5b)) {
    const edited = mutateJson(base.toString('utf8'), r);
    if (edited) return edited;
  }
  let b = Buffer.from(base);
  const edits = 1 + Math.floor(r() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (b.length + 1));
    switch (Math.floor(r() * 10)) {
      case 0: // flip a bit
        if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << Math.floor(r() * 8);
        break;
      case 1: // set a byte to an edge value
        if (b.length) b[Math.min(at, b.length - 1)] = pick([0, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x30, 0x39]);
        break;
      case 2: { // delete a run
        const n = 1 + Math.floor(r() * 32);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        break;
      }
      case 3: // insert a token
      case 4:
        b = Buffer.concat([b.subarray(0, at), pick(TOKENS), b.subarray(at)]);
        break;
      case 5: { // duplicate a run (repeats structure, grows nesting)
        const n = 1 + Math.floor(r() * 64);
        const run = b.subarray(at, at + n);
        b = Buffer.concat([b.subarray(0, at), run, run, b.subarray(at)]);
        break;
      }
      case 6: // truncate
        b = b.subarray(0, at);
        break;
      case 7: { // splice with another corpus entry
        const other = pick(corpus);
        const from = Math.floor(r() * (other.length + 1));
        b = Buffer.concat([b.subarray(0, at), other.subarray(from)]);
        break;
      }
      case 8: { // overwrite a 4- or 8-byte word with a boundary number, as text or binary
        const n = pick([0, 1, -1, 2 ** 31 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, 1e21, 0.5]);
        const text = Buffer.from(String(n));
        b = Buffer.concat([b.subarray(0, at), text, b.subarray(at + text.length)]);
        break;
      }
      default: { // deep nesting, the usual stack overflow (on one line: many short lines only test speed)
        const depth = pick([100, 5000, 100_000]);
        const [open, close] = pick([['[', ']'], ['{"a":', '}'], ['- ', ''], ['{a: ', '}']]);
        b = Buffer.concat([b.subarray(0, at), Buffer.from(open.repeat(depth) + '1' + close.repeat(depth)), b.subarray(at)]);
      }
    }
  }
  return b;
}

export function loadCorpus(target: string): { name: string; bytes: Buffer }[] {
  const dir = join(CORPUS_DIR, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

/** Keeps a crashing input in the corpus, named by its content so it is kept once. */
export function keep(target: string, input: Buffer): string {
  const dir = join(CORPUS_DIR, target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `crash-${createHash('sha256').update(input).digest('hex').slice(0, 16)}`);
  if (!existsSync(file)) writeFileSync(file, input);
  return file;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Keep crashing inputs in the corpus (default true). */
  keepFindings?: boolean;
}

interface WorkerMessage {
  type: 'start' | 'crash' | 'done' | 'ready' | 'fatal';
  index?: number;
  message?: string;
}

/**
 * Replays the target's corpus, then runs `iterations` mutated inputs. Input i
 * (0-based, after the corpus) is mutate(corpus, seed + i), so it can be made
 * again outside the worker when the worker has to be stopped.
 */
export async function fuzzTarget(target: string, opts: FuzzOptions): Promise<{ runs: number; findings: Finding[] }> {
  const corpus = loadCorpus(target);
  if (corpus.length === 0) throw new Error(`fuzz: no corpus for ${target} in ${CORPUS_DIR}`);
  const corpusBytes = corpus.map((c) => c.bytes);
  const inputAt = (index: number): { input: Buffer; iteration: number | null } =>
    index < corpus.length ? { input: corpus[index].bytes, iteration: null } : { input: mutate(corpusBytes, (opts.seed + index - corpus.length) >>> 0), iteration: index - corpus.length };
  const total = corpus.length + opts.iterations;
  const findings: Finding[] = [];
  // One input kept per distinct failure (kind and first line, numbers masked), not hundreds of the same bug.
  const signatures = new Set<string>();
  const record = (index: number, kind: Finding['kind'], message: string) => {
    const { input, iteration } = inputAt(index);
    const f: Finding = { target, iteration, kind, message, input };
    const signature = `${kind}:${message.split('\n')[0].replace(/\d+/g, 'N')}`;
    const fresh = !signatures.has(signature);
    signatures.add(signature);
    if (opts.keepFindings !== false && iteration !== null && fresh) f.kept = keep(target, input);
    else if (iteration === null) f.kept = join(CORPUS_DIR, target, corpus[index].name);
    findings.push(f);
  };

  const work = mkdtempSync(join(tmpdir(), `cairn-fuzz-${target}-`));
  try {
    await runWorkers();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { runs: total, findings };

  async function runWorkers(): Promise<void> {
  let next = 0;
  while (next < total) {
    // A child runs until it is done, hangs or dies; then a new one goes on from the next input.
    const from = next;
    next = await new Promise<number>((resolve, reject) => {
      const child = fork(fileURLToPath(new URL('./worker.js', import.meta.url)), [], {
        execArgv: ['--max-old-space-size=1024'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      child.send({ target, seed: opts.seed, from, total, corpus: corpusBytes, corpusCount: corpus.length, work: join(work, String(from)) });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      let current = from;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (next: number) => {
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(next);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          record(current, 'hang', `no result after ${HANG_MS} ms`);
          finish(current + 1);
        }, HANG_MS);
      };
      arm();
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'start') {
          current = m.index!;
          arm();
        } else if (m.type === 'crash') record(m.index!, 'crash', m.message!);
        else if (m.type === 'done') finish(total);
        else if (m.type === 'fatal') {
          settled = true;
          clearTimeout(timer);
          child.kill('SIGKILL');
          reject(new Error(`fuzz ${target}: ${m.message}`));
        }
      });
      child.on('exit', (code, signal) => {
        if (settled) return;
        // Gone without a word: what it was decoding took the process down.
        record(current, 'crash', `the process died (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(0, 8).join('\n')}`);
        finish(current + 1);
      });
    });
  }
  }
}

export function optionsFromEnv(defaultIterations: number): FuzzOptions {
  const iterations = Number(process.env.CAIRN_FUZZ_ITERATIONS ?? defaultIterations);
  const seed = process.env.CAIRN_FUZZ_SEED !== undefined ? Number(process.env.CAIRN_FUZZ_SEED) : 20261207;
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error('CAIRN_FUZZ_ITERATIONS must be a non-negative integer');
  if (!Number.isInteger(seed)) throw new Error('CAIRN_FUZZ_SEED must be an integer');
  return { iterations, seed };
}

export function describeFinding(f: Finding): string {
  const what = f.iteration === null ? 'corpus file' : `iteration ${f.iteration}`;
  return `${f.target}: ${f.kind} on ${what}${f.kept ? ` (${f.kept})` : ''}: ${f.message.split('\n').slice(0, 6).join('\n    ')}`;
}
