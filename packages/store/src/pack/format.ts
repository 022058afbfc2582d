import { Packr } from 'msgpackr';
import { xxh64 } from '../checksum.js';
import { CairnError } from '../errors.js';
import type { ObjectType } from '../types.js';

/**
 * Pack file layout (see docs/FORMAT.md):
 *   header  8 bytes  "CAIRNPK1", or "CAIRNPK2" and zeros up to byte 4096
 *   blobs   the objects' bytes, back to back, in the order written
 *   trailer msgpack { v: 1, entries: [[id(32), type, offset, length, xxh64(8), size], ...] }
 *   footer  24 bytes: trailer length (u64 LE), xxh64 of the trailer (8), "CAIRNEND"
 * The trailer makes every pack self-describing, so the index can be rebuilt
 * from the packs alone.
 */
export const PACK_END = Buffer.from('CAIRNEND', 'latin1');
/** The magic's length: the part of the header every layout has. */
export const HEADER_SIZE = 8;

/** Where a pack's blobs start, as its magic says. */
export interface PackLayout {
  magic: Buffer;
  dataStart: number;
}

/** Format 3's packs: blobs from byte 8. */
export const PACK_V1: PackLayout = { magic: Buffer.from('CAIRNPK1', 'latin1'), dataStart: HEADER_SIZE };
/**
 * Format 4's packs: blobs from byte 4096, so that a file's bytes keep their
 * offset within a 4 KiB block in the pack. A blob area starting at byte 8
 * put every byte of a new file 8 bytes past its offset in the page cache,
 * and the kernel's copy of a read into memory so placed (to be written to
 * the pack from there) ran at a third of its speed: loads and stores 8
 * bytes apart modulo 4 KiB stall each other (4K aliasing). Measured: 1 GiB
 * read at 343-451 ms against 54-57 ms aligned (bench/read-alignment.mjs),
 * ~270 ms of CPU per GiB added.
 */
export const PACK_V2: PackLayout = { magic: Buffer.from('CAIRNPK2', 'latin1'), dataStart: 4096 };

/** The layout a pack's first 8 bytes name; undefined for anything else. */
export function layoutOf(magic: Buffer): PackLayout | undefined {
  return [PACK_V1, PACK_V2].find((l) => l.magic.equals(magic));
}

/** A pack's header bytes, padding included. */
export function headerBytes(layout: PackLayout): Buffer {
  const b = Buffer.alloc(layout.dataStart);
  layout.magic.copy(b, 0);
  return b;
}
export const FOOTER_SIZE = 24;
/** A trailer larger than this is treated as damage, not allocated. */
export const MAX_TRAILER = 256 * 1024 * 1024;

export const TYPE_CODES: Record<ObjectType, number> = { chunk: 1, file: 2, tree: 3, record: 4 };
export const TYPE_NAMES: Record<number, ObjectType> = { 1: 'chunk', 2: 'file', 3: 'tree', 4: 'record' };

export interface PackEntry {
  id: Buffer; // 32 bytes
  type: ObjectType;
  offset: number;
  length: number;
  checksum: Buffer; // xxh64, 8 bytes
  /** Logical size: content bytes for files and trees, else the length. */
  size: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function encodeTrailer(entries: PackEntry[]): Buffer {
  const trailer = packr.pack({
    v: 1,
    entries: entries.map((e) => [e.id, TYPE_CODES[e.type], e.offset, e.length, e.checksum, e.size]),
  });
  const footer = Buffer.alloc(FOOTER_SIZE);
  footer.writeBigUInt64LE(BigInt(trailer.length), 0);
  xxh64(trailer).copy(footer, 8);
  PACK_END.copy(footer, 16);
  return Buffer.concat([trailer, footer]);
}

/** Parses a footer; returns the trailer's length and checksum. */
export function decodeFooter(footer: Buffer, packSize: number, where: string, dataStart = HEADER_SIZE): { length: number; checksum: Buffer } {
  if (footer.length !== FOOTER_SIZE || !footer.subarray(16).equals(PACK_END)) {
    throw new CairnError('CORRUPT', `${where}: pack footer is damaged (no end marker)`);
  }
  const length = Number(footer.readBigUInt64LE(0));
  if (length <= 0 || length > MAX_TRAILER || length > packSize - dataStart - FOOTER_SIZE) {
    throw new CairnError('CORRUPT', `${where}: pack footer gives an impossible trailer length ${length}`);
  }
  return { length, checksum: footer.subarray(8, 16) };
}

export function decodeTrailer(trailer: Buffer, checksum: Buffer, packSize: number, where: string, dataStart = HEADER_SIZE): PackEntry[] {
  if (!xxh64(trailer).equals(checksum)) throw new CairnError('CORRUPT', `${where}: pack trailer checksum mismatch`);
  let value: unknown;
  try {
    value = packr.unpack(trailer);
  } catch (err) {
    throw new CairnError('CORRUPT', `${where}: pack trailer does not decode`, { cause: err });
  }
  const v = value as { v?: unknown; entries?: unknown };
  if (!v || v.v !== 1 || !Array.isArray(v.entries)) throw new CairnError('CORRUPT', `${where}: pack trailer has an unknown layout`);
  const dataEnd = packSize - FOOTER_SIZE - trailer.length;
  let expectOffset = dataStart;
  const entries = v.entries.map((raw: unknown, i: number) => {
    const r = raw as unknown[];
    const ok =
      Array.isArray(r) && r.length === 6 &&
      r[0] instanceof Uint8Array && r[0].length === 32 &&
      typeof r[1] === 'number' && TYPE_NAMES[r[1]] !== undefined &&
      Number.isSafeInteger(r[2]) && Number.isSafeInteger(r[3]) &&
      r[4] instanceof Uint8Array && r[4].length === 8 && Number.isSafeInteger(r[5]);
    if (!ok) throw new CairnError('CORRUPT', `${where}: pack trailer entry ${i} is malformed`);
    const e: PackEntry = {
      id: Buffer.from(r[0] as Uint8Array),
      type: TYPE_NAMES[r[1] as number],
      offset: r[2] as number,
      length: r[3] as number,
      checksum: Buffer.from(r[4] as Uint8Array),
      size: r[5] as number,
    };
    // Blobs tile the data area exactly, so any byte of a pack belongs to a
    // blob, the trailer or the footer, and a flipped byte is always caught.
    if (e.offset !== expectOffset || e.length < 0 || e.offset + e.length > dataEnd) {
      throw new CairnError('CORRUPT', `${where}: pack trailer entry ${i} points outside the data area`);
    }
    expectOffset = e.offset + e.length;
    return e;
  });
  if (expectOffset !== dataEnd) {
    throw new CairnError('CORRUPT', `${where}: pack data area has ${dataEnd - expectOffset} bytes no entry accounts for`);
  }
  return entries;
}
