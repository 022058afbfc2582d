// Synthetic checkpoints in the layout `torch.save` writes (PyTorch >= 1.6,
// the default zip serialization), without PyTorch.
//
// What torch.save(obj, "model.pt") produces, and what this writes:
//   - a zip archive of STORED (uncompressed) entries under a folder named
//     after the file ("model/"), written by miniz with no timestamps;
//   - model/data.pkl: the object pickled with protocol 2, every tensor as
//     torch._utils._rebuild_tensor_v2(<persistent id ('storage',
//     torch.FloatStorage, key, 'cpu', numel)>, offset, size, stride,
//     requires_grad, OrderedDict()), storage keys "0", "1", ... in the order
//     the pickler meets the tensors;
//   - model/byteorder ("little");
//   - one entry per storage, model/data/<key>, in *string* order of the keys
//     (torch sorts them: data/0, data/1, data/10, data/100, data/11, ...), so
//     a state_dict's tensors are scattered through the file as in real files;
//   - every entry's data aligned to 64 bytes by an 'FB' padding extra field
//     in its local header (what lets torch mmap tensors);
//   - model/version ("3\n") and model/.data/serialization_id (40 digits that
//     change with the content), then the central directory, with zip64
//     records when offsets pass 4 GiB.
// A later checkpoint rewrites changed tensors in place and patches their
// CRC-32 in the local header and the central directory: the bytes equal a
// fresh torch.save of the new state.

import { openSync, writeSync, fsyncSync, closeSync, readSync, fstatSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { basename, extname } from 'node:path';
import { writeRegion, tensorLabel } from './gen-safetensors.mjs';

const ALIGN = 64;
const U32 = 0xffffffff;

// Markers for the pickler: plain JS values map to Python ones; these say "tensor", "tuple", "OrderedDict".
const TENSOR = Symbol('tensor');
const TUPLE = Symbol('tuple');
const ODICT = Symbol('odict');
export const tensor = (t) => ({ [TENSOR]: t });
export const tuple = (...items) => ({ [TUPLE]: items });
export const ordered = (entries) => ({ [ODICT]: entries });

/**
 * Pickles `root` (protocol 2) the way torch.save's pickler does. Returns the
 * pickle bytes and the tensors in storage-key order. Values: null, booleans,
 * numbers (integers as ints), strings, arrays (lists), Maps (dicts with any
 * keys), plain objects (dicts with string keys), tuple(), ordered(), tensor().
 */
export function pickle(root) {
  const out = [];
  const storages = [];
  const op = (...bytes) => out.push(Buffer.from(bytes));
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    out.push(h, b);
  };
  const global = (mod, name) => out.push(Buffer.from(`c${mod}\n${name}\n`, 'latin1')); // GLOBAL
  const int = (n) => {
    if (n >= 0 && n < 0x100) op(0x4b, n); // BININT1
    else if (n >= 0 && n < 0x10000) op(0x4d, n & 0xff, n >> 8); // BININT2
    else if (n >= -0x80000000 && n < 0x80000000) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(n, 1);
      out.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1, 8 bytes two's complement little-endian
      b[1] = 8;
      b.writeBigInt64LE(BigInt(n), 2);
      out.push(b);
    }
  };
  const float = (x) => {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT (big-endian double)
    b.writeDoubleBE(x, 1);
    out.push(b);
  };
  const items = (entries) => {
    if (!entries.length) return;
    op(0x28); // MARK
    for (const [k, v] of entries) {
      value(k);
      value(v);
    }
    op(0x75); // SETITEMS
  };
  const emptyOrderedDict = () => {
    global('collections', 'OrderedDict');
    op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  };
  const tensorOf = (t) => {
    const key = String(storages.length);
    storages.push(t);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28); // MARK: the argument tuple
    op(0x28); // MARK: the persistent id
    str('storage');
    global('torch', 'FloatStorage');
    str(key);
    str('cpu');
    int(numel);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0); // storage offset
    value(tuple(...t.shape));
    value(tuple(...stride));
    op(0x89); // requires_grad = False
    emptyOrderedDict(); // backward hooks
    op(0x74, 0x52); // TUPLE, REDUCE
  };
  function value(v) {
    if (v === null || v === undefined) op(0x4e);
    else if (v === true) op(0x88);
    else if (v === false) op(0x89);
    else if (typeof v === 'number') Number.isInteger(v) ? int(v) : float(v);
    else if (typeof v === 'string') str(v);
    else if (Array.isArray(v)) {
      op(0x5d); // EMPTY_LIST
      if (v.length) {
        op(0x28);
        v.forEach(value);
        op(0x65); // APPENDS
      }
    } else if (v[TENSOR]) tensorOf(v[TENSOR]);
    else if (v[TUPLE]) {
      if (!v[TUPLE].length) op(0x29);
      else {
        op(0x28);
        v[TUPLE].forEach(value);
        op(0x74);
      }
    } else if (v[ODICT]) {
      emptyOrderedDict();
      items(v[ODICT]);
    } else if (v instanceof Map) {
      op(0x7d); // EMPTY_DICT
      items([...v]);
    } else {
      op(0x7d);
      items(Object.entries(v));
    }
  }
  op(0x80, 2); // PROTO 2
  value(root);
  op(0x2e); // STOP
  return { bytes: Buffer.concat(out), storages };
}

/** A tensor spec (name, shape) for the pickler: bytes filled in. */
export function tensorSpec(name, shape, extra = {}) {
  return { name, shape, bytes: shape.reduce((a, b) => a * b, 1) * 4, ...extra };
}

/**
 * Lays out a torch.save archive of `root` for a file named `fileName`.
 * Returns { kind, fileBytes, tensorBytes, tensors, records, ... }; records
 * carry their local header offset, data offset and central directory
 * offset, and tensors their record.
 */
export function buildTorchZip(fileName, root) {
  const folder = basename(fileName, extname(fileName)) || 'archive';
  const { bytes: pkl, storages } = pickle(root);
  const records = [];
  const add = (name, data, t = null) => records.push({ name: `${folder}/${name}`, data, tensor: t, size: t ? t.bytes : data.length });
  add('data.pkl', pkl);
  add('byteorder', Buffer.from('little'));
  const keyed = storages.map((t, i) => ({ key: String(i), t }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)); // torch: for key in sorted(serialized_storages)
  for (const { key, t } of keyed) add(`data/${key}`, null, t);
  add('version', Buffer.from('3\n'));
  add('.data/serialization_id', Buffer.alloc(40, 0x30)); // content set at write time

  let pos = 0;
  for (const r of records) {
    const name = Buffer.from(r.name);
    r.nameBuf = name;
    if (r.size >= U32) throw new Error(`tensor ${r.name} is over 4 GiB; not supported by this writer`);
    r.header = pos;
    const bare = pos + 30 + name.length;
    const pad = (ALIGN - ((bare + 4) % ALIGN)) % ALIGN;
    r.extraLen = 4 + pad;
    r.start = bare + r.extraLen;
    r.end = r.start + r.size;
    pos = r.end;
    r.crc = 0;
  }
  const cdStart = pos;
  for (const r of records) {
    r.zip64 = r.header >= U32;
    r.cd = pos;
    pos += 46 + r.nameBuf.length + (r.zip64 ? 12 : 0);
  }
  const cdSize = pos - cdStart;
  const zip64End = cdStart >= U32 || records.length >= 0xffff || pos >= U32;
  const eocd64At = pos;
  if (zip64End) pos += 56 + 20;
  const fileBytes = pos + 22;
  const tensors = storages.map((t) => t);
  for (const r of records) if (r.tensor) r.tensor.record = r;
  return {
    kind: 'torchzip',
    fileName,
    records,
    tensors,
    cdStart,
    cdSize,
    zip64End,
    eocd64At,
    fileBytes,
    tensorBytes: tensors.reduce((a, t) => a + t.bytes, 0),
    dataStart: 0,
  };
}

function pwrite(fd, buf, pos) {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, pos + done);
}

function localHeader(r) {
  const h = Buffer.alloc(30 + r.nameBuf.length + r.extraLen, 0x5a);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4); // version needed
  h.writeUInt16LE(0, 6); // flags
  h.writeUInt16LE(0, 8); // STORED
  h.writeUInt16LE(0, 10); // time (miniz built without time support: zero)
  h.writeUInt16LE(0, 12); // date
  h.writeUInt32LE(r.crc >>> 0, 14);
  h.writeUInt32LE(r.size, 18);
  h.writeUInt32LE(r.size, 22);
  h.writeUInt16LE(r.nameBuf.length, 26);
  h.writeUInt16LE(r.extraLen, 28);
  r.nameBuf.copy(h, 30);
  h.writeUInt16LE(0x4246, 30 + r.nameBuf.length); // 'FB' padding field
  h.writeUInt16LE(r.extraLen - 4, 32 + r.nameBuf.length);
  return h;
}

function centralDirectory(z) {
  const parts = [];
  for (const r of z.records) {
    const c = Buffer.alloc(46 + r.nameBuf.length + (r.zip64 ? 12 : 0));
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(r.zip64 ? 45 : 20, 4); // made by
    c.writeUInt16LE(r.zip64 ? 45 : 20, 6); // needed
    c.writeUInt32LE(r.crc >>> 0, 16);
    c.writeUInt32LE(r.size, 20);
    c.writeUInt32LE(r.size, 24);
    c.writeUInt16LE(r.nameBuf.length, 28);
    c.writeUInt16LE(r.zip64 ? 12 : 0, 30);
    c.writeUInt32LE(r.zip64 ? U32 : r.header, 42);
    r.nameBuf.copy(c, 46);
    if (r.zip64) {
      const x = 46 + r.nameBuf.length;
      c.writeUInt16LE(0x0001, x);
      c.writeUInt16LE(8, x + 2);
      c.writeBigUInt64LE(BigInt(r.header), x + 4);
    }
    parts.push(c);
  }
  const n = z.records.length;
  if (z.zip64End) {
    const e = Buffer.alloc(56);
    e.writeUInt32LE(0x06064b50, 0);
    e.writeBigUInt64LE(44n, 4);
    e.writeUInt16LE(45, 12);
    e.writeUInt16LE(45, 14);
    e.writeBigUInt64LE(BigInt(n), 24);
    e.writeBigUInt64LE(BigInt(n), 32);
    e.writeBigUInt64LE(BigInt(z.cdSize), 40);
    e.writeBigUInt64LE(BigInt(z.cdStart), 48);
    const l = Buffer.alloc(20);
    l.writeUInt32LE(0x07064b50, 0);
    l.writeBigUInt64LE(BigInt(z.eocd64At), 8);
    l.writeUInt32LE(1, 16);
    parts.push(e, l);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Math.min(n, 0xffff), 8);
  end.writeUInt16LE(Math.min(n, 0xffff), 10);
  end.writeUInt32LE(z.zip64End ? U32 : z.cdSize, 12);
  end.writeUInt32LE(z.zip64End ? U32 : z.cdStart, 16);
  parts.push(end);
  return Buffer.concat(parts);
}

/** torch derives the id from the records' names and CRCs: it changes whenever a tensor does. */
function serializationId(z) {
  const h = createHash('sha256');
  for (const r of z.records) if (!r.name.endsWith('serialization_id')) h.update(`${r.name}:${r.crc}\n`);
  const digits = BigInt('0x' + h.digest('hex')).toString().padStart(40, '0').slice(0, 40);
  return Buffer.from(digits);
}

function writeSmall(fd, r, data) {
  r.crc = crc32(data) >>> 0;
  pwrite(fd, localHeader(r), r.header);
  pwrite(fd, data, r.start);
}
function finish(fd, z) {
  const sid = z.records.find((r) => r.name.endsWith('.data/serialization_id'));
  writeSmall(fd, sid, serializationId(z));
  pwrite(fd, centralDirectory(z), z.cdStart);
}

/** Writes the whole archive (every tensor fresh) and fsyncs. Returns bytes written. */
export function writeTorchZip(path, z, { data = 'weights', seed = null, k = 0 } = {}) {
  const fd = openSync(path, 'w');
  try {
    for (const r of z.records) {
      if (r.tensor) {
        r.crc = writeRegion(fd, r.start, r.size, { data, label: tensorLabel(seed, z.fileName, r.tensor, k) }) >>> 0;
        pwrite(fd, localHeader(r), r.header);
      } else if (!r.name.endsWith('serialization_id')) writeSmall(fd, r, r.data);
    }
    finish(fd, z);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return z.fileBytes;
}

/** Rewrites `tensors` in place with fresh content, patching CRCs and the serialization id; fsyncs; returns tensor bytes changed. */
export function rewriteTorchZip(path, z, tensors, { data = 'weights', seed = null, k = 1 } = {}) {
  const fd = openSync(path, 'r+');
  let changed = 0;
  try {
    for (const t of [...tensors].sort((a, b) => a.record.start - b.record.start)) {
      const r = t.record;
      r.crc = writeRegion(fd, r.start, r.size, { data, label: tensorLabel(seed, z.fileName, t, k) }) >>> 0;
      const c = Buffer.alloc(4);
      c.writeUInt32LE(r.crc, 0);
      pwrite(fd, c, r.header + 14);
      changed += t.bytes;
    }
    finish(fd, z);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return changed;
}

/**
 * Structural check of a written archive: end records, central directory,
 * each local header's name, sizes and 64-byte data alignment, entries tiling
 * the file. Returns the entry count.
 */
export function checkTorchZip(path, z) {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size !== z.fileBytes) throw new Error(`${path}: size ${size}, layout says ${z.fileBytes}`);
    const end = Buffer.alloc(22);
    readSync(fd, end, 0, 22, size - 22);
    if (end.readUInt32LE(0) !== 0x06054b50) throw new Error(`${path}: no end of central directory`);
    const cd = Buffer.alloc(z.cdSize);
    readSync(fd, cd, 0, cd.length, z.cdStart);
    let p = 0;
    let expect = 0;
    for (const r of z.records) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: bad central entry for ${r.name}`);
      const nameLen = cd.readUInt16LE(p + 28);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      if (name !== r.name) throw new Error(`${path}: central entry ${name}, expected ${r.name}`);
      const lh = Buffer.alloc(30);
      readSync(fd, lh, 0, 30, r.header);
      if (lh.readUInt32LE(0) !== 0x04034b50 || lh.readUInt32LE(22) !== r.size) throw new Error(`${path}: bad local header for ${r.name}`);
      const start = r.header + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      if (start % ALIGN !== 0 || start !== r.start) throw new Error(`${path}: ${r.name} data at ${start}, not 64-aligned`);
      if (r.header !== expect) throw new Error(`${path}: gap before ${r.name}`);
      expect = r.end;
      p += 46 + nameLen + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
    }
    if (expect !== z.cdStart) throw new Error(`${path}: entries end at ${expect}, directory at ${z.cdStart}`);
    return z.records.length;
  } finally {
    closeSync(fd);
  }
}
