// Synthetic model files in safetensors layout.
//
// Layout (https://github.com/huggingface/safetensors): 8-byte little-endian
// header length N, N bytes of JSON header ({"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {...}}, padded with spaces to
// a multiple of 8), then the tensor bytes. As the reference serializer does,
// tensors are laid out sorted by name, so "model.layers.10.*" sits between
// layers 1 and 2: the tensors a fine-tune changes are scattered over the
// file, not one contiguous tail. That is what real checkpoints look like and
// what a chunker has to cope with.
//
// The tensor set is GPT-like: token + position embeddings, per layer two
// LayerNorms, q/k/v/o projections with biases and a 4x MLP with biases, a
// final norm and an untied lm_head. Optional LoRA adapters (lora_A [r, d],
// lora_B [d, r] on q_proj and v_proj of every layer, PEFT's default targets)
// sized to ~1% of the bytes. Only F32.

import { randomFillSync, createCipheriv, createHash } from 'node:crypto';
import { openSync, writeSync, fsyncSync, closeSync, readSync, fstatSync } from 'node:fs';
import { crc32 } from 'node:zlib';

const MiB = 1024 * 1024;
const BLOCK = 8 * MiB; // generation block: bounded memory even for 4 GiB files

/** Parses "64MiB", "1GiB", "4G", "500MB", "123456" into bytes. */
export function parseSize(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(String(text));
  if (!m) throw new Error(`bad size: ${text} (try 64MiB, 1GiB, 4GiB)`);
  const base = m[3] || !m[2] ? 1024 : 1000;
  const pow = { '': 0, k: 1, m: 2, g: 3, t: 4 }[m[2].toLowerCase()];
  return Math.round(Number(m[1]) * base ** pow);
}

export function fmtBytes(n) {
  const a = Math.abs(n);
  if (a >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (a >= MiB) return `${(n / MiB).toFixed(2)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/**
 * Picks the tensor set for a file of about `targetBytes`.
 * Returns { config, tensors, header, dataStart, tensorBytes, fileBytes } where each
 * tensor is { name, shape, bytes, begin, end (relative to dataStart), order, layer, role }.
 * `order` is the position in the model (embeddings first, lm_head last),
 * independent of the name-sorted file position.
 */
export function buildModel(targetBytes, { lora = false } = {}) {
  const F = Math.floor(targetBytes / 4); // float budget
  const L = targetBytes <= 256 * MiB ? 12 : targetBytes <= 2 * 1024 * MiB ? 24 : 32;
  const loraFrac = lora ? 0.01 : 0;
  // ~85% of the floats in the layers (12 d^2 each), the rest in embeddings + lm_head.
  let d = Math.max(64, Math.round(Math.sqrt((0.85 * F) / (12 * L)) / 64) * 64);
  const P = 1024; // positions
  let V, r = 0;
  for (;;) {
    const perLayer = 12 * d * d + 9 * d + 4 * d; // weights + biases (q,k,v,o,fc2: d; fc1: 4d) + 2 LN (w,b)
    r = lora ? Math.max(1, Math.round((loraFrac * F) / (4 * L * d))) : 0;
    const adapters = 4 * L * r * d;
    const fixed = L * perLayer + P * d + 2 * d + adapters;
    V = Math.floor((F - fixed) / (2 * d));
    if (V >= 256 || d <= 64) break;
    d -= 64;
  }
  if (V < 16) throw new Error(`size ${targetBytes} too small for a model`);

  const spec = []; // model order
  const add = (name, shape, layer, role) => spec.push({ name, shape, layer, role });
  add('model.embed_tokens.weight', [V, d], -1, 'embed');
  add('model.embed_positions.weight', [P, d], -1, 'embed');
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [d], i, 'norm');
    add(`${p}.input_layernorm.bias`, [d], i, 'norm');
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
      add(`${p}.self_attn.${proj}.weight`, [d, d], i, 'attn');
      add(`${p}.self_attn.${proj}.bias`, [d], i, 'bias');
      if (lora && (proj === 'q_proj' || proj === 'v_proj')) {
        add(`${p}.self_attn.${proj}.lora_A.weight`, [r, d], i, 'lora');
        add(`${p}.self_attn.${proj}.lora_B.weight`, [d, r], i, 'lora');
      }
    }
    add(`${p}.post_attention_layernorm.weight`, [d], i, 'norm');
    add(`${p}.post_attention_layernorm.bias`, [d], i, 'norm');
    add(`${p}.mlp.fc1.weight`, [4 * d, d], i, 'mlp');
    add(`${p}.mlp.fc1.bias`, [4 * d], i, 'bias');
    add(`${p}.mlp.fc2.weight`, [d, 4 * d], i, 'mlp');
    add(`${p}.mlp.fc2.bias`, [d], i, 'bias');
  }
  add('model.norm.weight', [d], L, 'norm');
  add('model.norm.bias', [d], L, 'norm');
  add('lm_head.weight', [V, d], L + 1, 'head');

  spec.forEach((t, i) => {
    t.order = i;
    t.bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
  });
  // File layout: sorted by name, as safetensors' serializer does for one dtype.
  const byName = [...spec].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let off = 0;
  const headerObj = { __metadata__: { format: 'pt', generator: 'cairn-bench' } };
  for (const t of byName) {
    t.begin = off;
    t.end = off + t.bytes;
    off = t.end;
    headerObj[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [t.begin, t.end] };
  }
  let json = JSON.stringify(headerObj);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const jsonBuf = Buffer.from(json, 'utf8');
  const header = Buffer.alloc(8 + jsonBuf.length);
  header.writeBigUInt64LE(BigInt(jsonBuf.length), 0);
  jsonBuf.copy(header, 8);
  return {
    config: { layers: L, hidden: d, vocab: V, positions: P, loraRank: r, tensors: spec.length },
    tensors: spec,
    header,
    dataStart: header.length,
    tensorBytes: off,
    fileBytes: header.length + off,
  };
}

/**
 * Fills `buf` with fresh content. 'weights': float32 values uniform in
 * [-0.05, 0.05) (real weights' exponent spread: not all bytes are random,
 * as in trained checkpoints); 'random': raw random bytes. With a `stream`
 * (see keyStream) the bytes are a deterministic function of its key, so a
 * checkpoint can be regenerated bit for bit (every tool sees the same data,
 * and a tool can run its whole sequence on its own when disk is short).
 */
export function fillRandom(buf, data = 'weights', stream = null) {
  if (stream) stream.fill(buf);
  else randomFillSync(buf);
  if (data === 'random') return;
  const n = buf.length >>> 2;
  const u = new Uint32Array(buf.buffer, buf.byteOffset, n);
  const f = new Float32Array(buf.buffer, buf.byteOffset, n);
  for (let i = 0; i < n; i++) f[i] = (u[i] * 2.3283064365386963e-10 - 0.5) * 0.1;
}

let zeros = null;
/**
 * A deterministic byte stream: the AES-128-CTR keystream for
 * key = SHA-256(label)[0..16] (AES-NI: several GB/s, so generation stays
 * cheap next to what is measured). Successive fill() calls continue it.
 */
export function keyStream(label) {
  const key = createHash('sha256').update(String(label)).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return {
    fill(buf) {
      if (!zeros || zeros.length < buf.length) zeros = Buffer.alloc(Math.max(buf.length, BLOCK));
      cipher.update(zeros.subarray(0, buf.length)).copy(buf);
    },
  };
}

let scratch = null;
function block() {
  if (!scratch) scratch = Buffer.allocUnsafe(BLOCK); // 8 MiB aligned to 8 bytes
  return scratch;
}

/**
 * Writes `bytes` bytes of fresh tensor content at `pos` (8 MiB at a time,
 * so memory stays bounded for any size). `label`, when given, makes the
 * content deterministic (keyStream). Returns the CRC-32 of what was written
 * (zip entries need it).
 */
export function writeRegion(fd, pos, bytes, { data = 'weights', label = null } = {}) {
  const buf = block();
  const stream = label === null ? null : keyStream(label);
  let left = bytes;
  let crc = 0;
  while (left > 0) {
    const n = Math.min(left, BLOCK);
    const view = buf.subarray(0, n);
    fillRandom(view, data, stream);
    crc = crc32(view, crc);
    let done = 0;
    while (done < n) done += writeSync(fd, view, done, n - done, pos + done);
    pos += n;
    left -= n;
  }
  return crc;
}

/** The content label of tensor `t` at checkpoint `k` under `seed` (null seed: random content). */
export const tensorLabel = (seed, file, t, k) => (seed === null || seed === undefined ? null : `${seed}/${file}/${t.name}/${k}`);

function writeTensor(fd, model, t, data, label) {
  return writeRegion(fd, model.dataStart + t.begin, t.bytes, { data, label });
}

/**
 * Writes a whole new model file (every tensor fresh) and fsyncs it. Returns
 * bytes written. With `seed`, tensor content is a function of (seed, file
 * name, tensor name, k).
 */
export function writeModel(path, model, { data = 'weights', seed = null, file = 'model', k = 0 } = {}) {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, model.header, 0, model.header.length, 0);
    for (const t of [...model.tensors].sort((a, b) => a.begin - b.begin)) writeTensor(fd, model, t, data, tensorLabel(seed, file, t, k));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return model.fileBytes;
}

/**
 * Overwrites the given tensors in place with fresh content (what one training
 * step does to them), fsyncs, and returns the exact number of tensor bytes changed.
 */
export function rewriteTensors(path, model, tensors, { data = 'weights', seed = null, file = 'model', k = 1 } = {}) {
  const fd = openSync(path, 'r+');
  let changed = 0;
  try {
    for (const t of [...tensors].sort((a, b) => a.begin - b.begin)) {
      writeTensor(fd, model, t, data, tensorLabel(seed, file, t, k));
      changed += t.bytes;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return changed;
}

/** Parses a safetensors file's header and checks that the offsets tile the data. Returns the header object. */
export function checkSafetensors(path) {
  const fd = openSync(path, 'r');
  try {
    const len8 = Buffer.alloc(8);
    readSync(fd, len8, 0, 8, 0);
    const n = Number(len8.readBigUInt64LE(0));
    const hb = Buffer.alloc(n);
    readSync(fd, hb, 0, n, 8);
    const header = JSON.parse(hb.toString('utf8'));
    const spans = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([k, v]) => {
        const elems = v.shape.reduce((a, b) => a * b, 1);
        if (v.dtype !== 'F32' || v.data_offsets[1] - v.data_offsets[0] !== elems * 4) throw new Error(`bad tensor ${k}`);
        return v.data_offsets;
      })
      .sort((a, b) => a[0] - b[0]);
    let off = 0;
    for (const [b, e] of spans) {
      if (b !== off) throw new Error(`gap/overlap at ${b}`);
      off = e;
    }
    const size = fstatSync(fd).size;
    if (8 + n + off !== size) throw new Error(`file size ${size} != ${8 + n + off}`);
    return header;
  } finally {
    closeSync(fd);
  }
}
