// A tiny STORED zip writer for the chunker tests, shaped like torch.save
// output: data aligned to 64 bytes with an 'FB' padding extra field, and
// optionally zip64 end records.
import { crc32 } from 'node:zlib';

export interface ZipEntryIn {
  name: string;
  data: Uint8Array;
}

export interface ZipEntryOut {
  name: string;
  /** Local header start, data start and data end, absolute. */
  header: number;
  start: number;
  end: number;
}

export interface ZipOptions {
  /** Data alignment, as torch.save does (64); 0 for none. */
  align?: number;
  /** Write zip64 end of central directory record and locator. */
  zip64?: boolean;
  comment?: string;
}

export function makeZip(entries: readonly ZipEntryIn[], opts: ZipOptions = {}): { file: Buffer; entries: ZipEntryOut[]; cdStart: number } {
  const align = opts.align ?? 64;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  const out: ZipEntryOut[] = [];
  let pos = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const crc = crc32(e.data);
    let extra = Buffer.alloc(0);
    if (align > 0) {
      const bare = pos + 30 + name.length;
      const padLen = (align - ((bare + 4) % align)) % align;
      extra = Buffer.alloc(4 + padLen, 0x5a);
      extra.writeUInt16LE(0x4246, 0); // 'FB'
      extra.writeUInt16LE(padLen, 2);
    }
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0, 6);
    lh.writeUInt16LE(0, 8); // STORED
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(e.data.length, 18);
    lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(extra.length, 28);
    const header = pos;
    parts.push(lh, name, extra, Buffer.from(e.data));
    pos += 30 + name.length + extra.length;
    out.push({ name: e.name, header, start: pos, end: pos + e.data.length });
    pos += e.data.length;

    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(0x031e, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(e.data.length, 20);
    ch.writeUInt32LE(e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(header, 42);
    central.push(ch, name);
  }
  const cdStart = pos;
  const cd = Buffer.concat(central);
  parts.push(cd);
  pos += cd.length;
  if (opts.zip64) {
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    r.writeBigUInt64LE(44n, 4);
    r.writeUInt16LE(0x031e, 12);
    r.writeUInt16LE(45, 14);
    r.writeBigUInt64LE(BigInt(entries.length), 24);
    r.writeBigUInt64LE(BigInt(entries.length), 32);
    r.writeBigUInt64LE(BigInt(cd.length), 40);
    r.writeBigUInt64LE(BigInt(cdStart), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(pos), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(r, loc);
    pos += 76;
  }
  const comment = Buffer.from(opts.comment ?? '');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : cdStart, 16);
  eocd.writeUInt16LE(comment.length, 20);
  parts.push(eocd, comment);
  return { file: Buffer.concat(parts), entries: out, cdStart };
}
