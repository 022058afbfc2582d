// Shared by the *.test.ts files: stores in temp folders, experiments with real outs, and a tiny
// tar reader/writer that can write anything (including what tar-stream refuses to) for hostile tarballs.
import { mkdtemp } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Store, type CairnErrorCode, isCairnError } from '@cairn/store';
import { appendCheckpoint, createExperiment, type OutEntry } from '@cairn/lineage';

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export async function tempStore(): Promise<{ dir: string; work: string }> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-transfer-'));
  made.push(work);
  const dir = join(work, 'store');
  await Store.init(dir);
  return { dir, work };
}

export async function out(store: Store, data: Buffer): Promise<OutEntry> {
  return { id: await store.putBuffer(data), size: data.length, kind: 'file', checkpoint: true };
}

/** An experiment of `models.length` checkpoints, each with `model.bin` = that buffer. */
export async function makeExperiment(store: Store, name: string, models: Buffer[], from: string | null = null): Promise<string[]> {
  await createExperiment(store, { name, from, baseline: from ? undefined : { deps: {}, params: { 'params.yaml': { lr: 0.1 } } } });
  const ids: string[] = [];
  for (const [i, m] of models.entries()) {
    const r = await appendCheckpoint(store, name, {
      stage: 'train',
      cmd: 'python train.py',
      outs: { 'model.bin': await out(store, m) },
      deps: { 'train.py': { id: await store.putBuffer(Buffer.from('print(1)\n')), size: 9, kind: 'file' } },
      params: { 'params.yaml': { lr: 0.1 } },
      metrics: { acc: i / 10 },
    });
    ids.push(r.id);
  }
  return ids;
}

export class Collect extends Writable {
  parts: Buffer[] = [];
  _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.parts.push(chunk);
    cb();
  }
  get data(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface TarEntry {
  name: string;
  data: Buffer;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '5' folder, '6' fifo, 'x' pax header. */
  type?: string;
  linkname?: string;
  /** The size the header claims (default: data.length). */
  claimedSize?: number;
  /** Write the size in base-256 (GNU) form. */
  base256?: boolean;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export function tarHeader(e: TarEntry): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  const size = e.claimedSize ?? e.data.length;
  if (e.base256 || size > 0o77777777777) {
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else h.write(octal(size, 12), 124);
  h.write(octal(1700000000, 12), 136);
  h.write(e.type ?? '0', 156);
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A tar of `entries`, data padded to 512, two zero blocks at the end (unless `end` is false). */
export function makeTar(entries: TarEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The entries of a plain ustar tar (as our exports are). */
export function readTar(tar: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let at = 0;
  while (at + 512 <= tar.length) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(h.toString('ascii', 124, 136).replace(/\0.*$/s, '').trim(), 8);
    const type = String.fromCharCode(h[156] || 0x30);
    out.push({ name, type, data: Buffer.from(tar.subarray(at + 512, at + 512 + size)) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** For assert.rejects: the error is a CairnError with this code (and a message matching `re`). */
export function cairnError(code: CairnErrorCode, re?: RegExp): (err: unknown) => boolean {
  return (err) => {
    if (!isCairnError(err, code)) throw new Error(`expected CairnError ${code}, got ${String((err as Error)?.stack ?? err)}`);
    if (re && !re.test(err.message)) throw new Error(`message '${err.message}' does not match ${re}`);
    return true;
  };
}
