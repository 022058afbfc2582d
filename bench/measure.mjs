// Timers, child processes with peak-RSS sampling, the cp+fsync baseline,
// warm reads, memory warm-up, disk accounting.

import os from 'node:os';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { readdir, lstat, statfs, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CHILD = join(HERE, 'child.mjs');

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** median/min/max of a list of numbers. */
export function summarize(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, n: 0, values: [] };
  const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return { median, min: v[0], max: v[n - 1], n, values: [...values] };
}

export function median(values) {
  return summarize(values).median;
}

/** Peak RSS (VmHWM) of a live process, in KiB, or 0 once it is gone. */
function readHwmKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs a command without a shell. Resolves { code, ms, stdout, stderr,
 * sampledPeakKiB } where ms is wall time from spawn to exit as seen here and
 * sampledPeakKiB the highest VmHWM seen by polling /proc every 10 ms (a
 * cross-check; a child's own maxRSS is exact).
 */
export function run(cmd, args, { env, cwd, sampleRss = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, cwd });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    let timer = null;
    if (sampleRss) {
      timer = setInterval(() => {
        peak = Math.max(peak, readHwmKiB(p.pid));
      }, 10);
    }
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', (e) => {
      if (timer) clearInterval(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      const ms = nowMs() - t0;
      if (timer) clearInterval(timer);
      resolve({ code: code ?? 128, signal, ms, stdout, stderr, sampledPeakKiB: peak });
    });
  });
}

/**
 * The baseline: the real `cp SRC DEST`, then `sync DEST DESTDIR` (coreutils
 * sync with arguments fsyncs each one: the copy's data and its directory
 * entry), the same durability the store gives its packs (fsync file, fsync
 * folder). Timed from here, process spawns included (a few ms).
 */
export async function cpFsync(src, dest, { files = null } = {}) {
  const t0 = nowMs();
  // A checkpoint folder: `cp -r`, then fsync every file, the folder and its parent entry.
  const a = await run('cp', files ? ['-r', src, dest] : [src, dest]);
  if (a.code !== 0) throw new Error(`cp failed: ${a.stderr}`);
  const b = await run('sync', files ? [...files.map((f) => join(dest, f)), dest, dirname(dest)] : [dest, dirname(dest)]);
  if (b.code !== 0) throw new Error(`sync failed: ${b.stderr}`);
  return { ms: nowMs() - t0, cpMs: a.ms, syncMs: b.ms };
}

/**
 * Untimed, before every timed operation: `sync -f DIR` (syncfs) flushes what
 * earlier steps left dirty (unlinked copies, index writes, generator output),
 * so neither contender pays for the other's writeback in its own fsync.
 */
export async function settle(dir) {
  await run('sync', ['-f', dir]);
}

/**
 * Untimed, right before every timed step, after settle(): touches `bytes`
 * of memory in a short-lived process, so the memory the step is about to
 * get (page cache for cp, arena and page cache for cairn) is backed by the
 * host. On a VM whose balloon reports free pages to the host (virtio
 * free page reporting, as on the dev VM), memory left free for a couple
 * of seconds goes back to the host and the first touch of each page then
 * costs several times a normal fault: cp + fsync of 1 GiB took 1.6-1.8 s
 * after 8 s idle and 0.72 s right after 2 GiB had been touched. Whoever
 * touches more fresh memory pays more, which is mostly cp (its whole file
 * goes through the page cache; cairn's adds write with O_DIRECT), so
 * without this the baseline swung 4x between steps. Capped at half the
 * free memory.
 */
export async function warmMemory(bytes) {
  const n = Math.floor(Math.min(bytes, os.freemem() / 2) / (1 << 20));
  if (n <= 0) return;
  const r = await run(process.execPath, ['-e', `const m=${n},keep=[];for(let k=0;k<m;k+=256){const b=Buffer.alloc(Math.min(256,m-k)<<20);for(let i=0;i<b.length;i+=4096)b[i]=1;keep.push(b)}`]);
  if (r.code !== 0) throw new Error(`warmMemory failed: ${r.stderr}`);
}

/**
 * Runs `node bench/child.mjs OP ARGS...` (the store alone in its own
 * process) and returns its JSON report plus wallMs (spawn to exit, Node
 * start-up included) and the sampled peak RSS. `env` replaces the child's
 * environment (e.g. with CAIRN_THREADS set).
 */
export async function runChild(op, args, { env } = {}) {
  const r = await run(process.execPath, [CHILD, op, ...args], { sampleRss: true, env });
  const line = r.stdout.trim().split('\n').pop() || '';
  let report;
  try {
    report = JSON.parse(line);
  } catch {
    throw new Error(`child ${op} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.stderr || r.stdout}`);
  }
  if (r.code !== 0 || report.error) throw new Error(`child ${op} failed: ${report.error ?? r.stderr}`);
  return { ...report, wallMs: r.ms, sampledPeakKiB: r.sampledPeakKiB };
}

/** Reads files once, start to end, so their pages are cached (we cannot drop caches without root). */
export function warmRead(paths) {
  const buf = Buffer.allocUnsafe(8 << 20);
  let total = 0;
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      let n;
      while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) total += n;
    } finally {
      closeSync(fd);
    }
  }
  return total;
}

export function sha256File(path) {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, 'r');
  try {
    let n;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Calls visit(path, dirent) for every entry under dir (depth first, folders
 * before their contents); a missing dir is empty. Symlinks are not followed.
 */
export async function walkTree(dir, visit) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (e.code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    await visit(p, e);
    if (e.isDirectory()) await walkTree(p, visit);
  }
}

/** Every regular file under dir, with apparent size and allocated bytes. */
export async function listFiles(dir) {
  const out = [];
  await walkTree(dir, async (p, e) => {
    if (!e.isFile()) return;
    const s = await lstat(p);
    out.push({ path: p, size: s.size, allocated: s.blocks * 512 });
  });
  return out;
}

/** Apparent and allocated bytes of a folder tree. */
export async function dirBytes(dir) {
  const files = await listFiles(dir);
  return {
    files: files.length,
    size: files.reduce((a, f) => a + f.size, 0),
    allocated: files.reduce((a, f) => a + f.allocated, 0),
  };
}

/** Bytes available to us on the filesystem holding `dir`. */
export async function freeBytes(dir) {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

export async function rmrf(p) {
  await rm(p, { recursive: true, force: true });
}
