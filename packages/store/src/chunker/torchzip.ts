import type { Segment } from './plan.js';
import type { Source } from './source.js';

/**
 * Zip archives as torch.save writes them (also numpy .npz and any other
 * zip): each entry's data is a segment; local headers, data descriptors and
 * the central directory fall into the gaps. Compression does not matter to
 * the layout, but only STORED entries deduplicate well.
 */

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const EOCD_LEN = 22;
const LOCATOR64_LEN = 20;
const EOCD64_LEN = 56;
const CENTRAL_LEN = 46;
const LOCAL_LEN = 30;
const MAX_COMMENT = 0xffff;
/** A larger central directory (~200k entries) is refused, to keep memory bounded. */
export const MAX_CENTRAL_DIR = 16 * 1024 * 1024;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

interface Entry {
  name: Buffer;
  flags: number;
  compSize: number;
  localOffset: number;
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
}

interface Directory {
  entries: number;
  cdOffset: number;
  cdSize: number;
  /** Where the central directory must end: the start of the end records. */
  cdLimit: number;
}

/** Finds the end of central directory record(s). Null on anything unexpected. */
async function readDirectory(src: Source): Promise<Directory | null> {
  const { size } = src;
  const tailLen = Math.min(size, MAX_COMMENT + EOCD_LEN + LOCATOR64_LEN);
  const tailPos = size - tailLen;
  const tail = await src.read(tailPos, tailLen);
  // The last signature whose comment runs exactly to the end of the file; a
  // signature inside a comment or inside entry data would not fit that.
  let e = -1;
  for (let i = tail.length - EOCD_LEN; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + EOCD_LEN + tail.readUInt16LE(i + 20) === tail.length) {
      e = i;
      break;
    }
  }
  if (e < 0) return null;
  const disk = tail.readUInt16LE(e + 4);
  const cdDisk = tail.readUInt16LE(e + 6);
  const entriesHere = tail.readUInt16LE(e + 8);
  const entries = tail.readUInt16LE(e + 10);
  const cdSize = tail.readUInt32LE(e + 12);
  const cdOffset = tail.readUInt32LE(e + 16);
  const eocdPos = tailPos + e;

  const hasLocator = e >= LOCATOR64_LEN && tail.readUInt32LE(e - LOCATOR64_LEN) === SIG_LOCATOR64;
  if (hasLocator) {
    const l = e - LOCATOR64_LEN;
    if (tail.readUInt32LE(l + 4) !== 0 || tail.readUInt32LE(l + 16) > 1) return null;
    const pos64 = u64(tail, l + 8);
    if (pos64 < 0 || pos64 + EOCD64_LEN > eocdPos - LOCATOR64_LEN) return null;
    const r = await src.read(pos64, EOCD64_LEN);
    if (r.readUInt32LE(0) !== SIG_EOCD64) return null;
    if (r.readUInt32LE(16) !== 0 || r.readUInt32LE(20) !== 0) return null;
    const here64 = u64(r, 24);
    const total64 = u64(r, 32);
    const size64 = u64(r, 40);
    const off64 = u64(r, 48);
    if (here64 !== total64 || total64 < 0 || size64 < 0 || off64 < 0) return null;
    return { entries: total64, cdOffset: off64, cdSize: size64, cdLimit: pos64 };
  }
  if (disk === U16_MAX || entries === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) return null; // zip64 without its records
  if (disk !== 0 || cdDisk !== 0 || entriesHere !== entries) return null;
  return { entries, cdOffset, cdSize, cdLimit: eocdPos };
}

/** Parses the central directory; null on anything unexpected. */
function readEntries(cd: Buffer, count: number): Entry[] | null {
  const out: Entry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + CENTRAL_LEN > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) return null;
    const flags = cd.readUInt16LE(p + 8);
    let compSize = cd.readUInt32LE(p + 20);
    let uncompSize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let disk = cd.readUInt16LE(p + 34);
    let localOffset = cd.readUInt32LE(p + 42);
    const end = p + CENTRAL_LEN + nameLen + extraLen + commentLen;
    if (end > cd.length) return null;
    const name = cd.subarray(p + CENTRAL_LEN, p + CENTRAL_LEN + nameLen);
    if (uncompSize === U32_MAX || compSize === U32_MAX || localOffset === U32_MAX || disk === U16_MAX) {
      // The zip64 extra field holds, in this order, only the fields that overflowed.
      let x = p + CENTRAL_LEN + nameLen;
      const xEnd = x + extraLen;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (x + 4 + len > xEnd) return null;
        if (id === 0x0001) {
          let q = x + 4;
          const qEnd = q + len;
          const take8 = (): number => {
            if (q + 8 > qEnd) return -1;
            const v = u64(cd, q);
            q += 8;
            return v;
          };
          if (uncompSize === U32_MAX) uncompSize = take8();
          if (compSize === U32_MAX) compSize = take8();
          if (localOffset === U32_MAX) localOffset = take8();
          if (disk === U16_MAX) {
            if (q + 4 > qEnd) return null;
            disk = cd.readUInt32LE(q);
          }
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found || uncompSize < 0 || compSize < 0 || localOffset < 0) return null;
    }
    if (disk !== 0) return null;
    out.push({ name, flags, compSize, localOffset });
    p = end;
  }
  return out;
}

/** Segments of the entries' data in a zip file, or null if it is not one or anything looks inconsistent. Throws only on I/O errors. */
export async function parseZip(src: Source): Promise<Segment[] | null> {
  const { size } = src;
  if (size < LOCAL_LEN + EOCD_LEN) return null;
  // Cheap rejection first: an archive written by torch.save (or any plain
  // zip writer) starts with its first entry's local header.
  if ((await src.read(0, 4)).readUInt32LE(0) !== SIG_LOCAL) return null;
  const dir = await readDirectory(src);
  if (dir === null) return null;
  const { entries: count, cdOffset, cdSize, cdLimit } = dir;
  if (cdSize > MAX_CENTRAL_DIR || cdOffset + cdSize > cdLimit || count * CENTRAL_LEN > cdSize) return null;
  const entries = readEntries(await src.read(cdOffset, cdSize), count);
  if (entries === null) return null;
  entries.sort((a, b) => a.localOffset - b.localOffset);

  const segments: Segment[] = [];
  let pos = 0;
  for (const en of entries) {
    if (en.localOffset < pos || en.localOffset + LOCAL_LEN > cdOffset) return null;
    const h = await src.read(en.localOffset, LOCAL_LEN);
    if (h.readUInt32LE(0) !== SIG_LOCAL) return null;
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const dataStart = en.localOffset + LOCAL_LEN + nameLen + extraLen;
    const dataEnd = dataStart + en.compSize;
    if (dataEnd > cdOffset) return null;
    if (nameLen !== en.name.length || !(await src.read(en.localOffset + LOCAL_LEN, nameLen)).equals(en.name)) return null;
    // Without a data descriptor (flag bit 3) the local header repeats the
    // size; a mismatch means the directory and the data disagree.
    const localComp = h.readUInt32LE(18);
    if ((en.flags & 0x08) === 0 && localComp !== U32_MAX && localComp !== en.compSize) return null;
    if (dataEnd > dataStart) segments.push({ start: dataStart, end: dataEnd });
    pos = dataEnd;
  }
  return segments;
}
