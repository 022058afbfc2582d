// What every tool adapter shares: running a command under /usr/bin/time for
// its peak RSS, finding which files an operation wrote, and fsyncing exactly
// those (so a tool that leaves its writes in the page cache pays the same
// durability cost as one that fsyncs).

import { existsSync } from 'node:fs';
import { readFile, lstat, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { run, nowMs, walkTree } from '../measure.mjs';

export const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
let seq = 0;

/**
 * Runs `cmd args` and returns { ms, rssKiB, code, stdout, stderr }. ms is
 * spawn to exit as seen from the harness. rssKiB is the peak RSS of the
 * largest process in the tree (GNU time's %M: wait4's ru_maxrss covers the
 * command and every descendant it waited for); without /usr/bin/time, the
 * top process's VmHWM sampled every 10 ms.
 */
export async function timed(cmd, args, { cwd, env } = {}) {
  if (!TIME_BIN) {
    const r = await run(cmd, args, { cwd, env, sampleRss: true });
    return { ...r, rssKiB: r.sampledPeakKiB };
  }
  const out = join(tmpdir(), `cairn-bench-rss-${process.pid}-${seq++}`);
  const r = await run(TIME_BIN, ['-f', '%M', '-o', out, cmd, ...args], { cwd, env });
  let rssKiB = 0;
  try {
    const text = await readFile(out, 'utf8');
    // With a failing command GNU time writes "Command exited with non-zero status N" first.
    const m = /(\d+)\s*$/.exec(text.trim());
    rssKiB = m ? Number(m[1]) : 0;
  } catch {
    // time could not run the command at all; code tells
  }
  await rm(out, { force: true });
  return { ...r, rssKiB };
}

/** Throws with the command's stderr when it failed. */
export function must(r, what) {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return r;
}

/** path → "ino:size:mtime" of every file and folder under dir. */
export async function snapshotTree(dir) {
  const out = new Map([[dir, 'root']]);
  await walkTree(dir, async (p, e) => {
    if (e.isSymbolicLink()) return;
    const s = await lstat(p).catch(() => null);
    if (s) out.set(p, `${s.ino}:${s.size}:${s.mtimeMs}:${e.isDirectory() ? 'd' : 'f'}`);
  });
  return out;
}

/**
 * What an operation wrote under `dir`: files that are new or changed since
 * `before`, and the folders whose entries changed (new, removed or renamed
 * children), which need their own fsync for a rename or create to be durable.
 */
export async function writtenSince(dir, before) {
  const after = await snapshotTree(dir);
  const files = [];
  const dirs = new Set();
  for (const [p, sig] of after) {
    if (sig === 'root' || sig.endsWith(':d')) continue;
    if (before.get(p) !== sig) {
      files.push(p);
      dirs.add(dirname(p));
    }
  }
  for (const p of before.keys()) if (!after.has(p)) dirs.add(dirname(p));
  for (const [p, sig] of after) if (sig.endsWith(':d') && !before.has(p)) dirs.add(dirname(p));
  return { files, dirs: [...dirs].filter((d) => existsSync(d)) };
}

/** fsyncs the given paths with coreutils `sync FILE...` (one fsync each). Returns ms, 0 for nothing. */
export async function syncPaths(paths) {
  if (!paths.length) return 0;
  const t0 = nowMs();
  for (let i = 0; i < paths.length; i += 500) {
    const r = await run('sync', paths.slice(i, i + 500));
    must(r, 'sync');
  }
  return nowMs() - t0;
}

/** First line of a command's output, or null when it cannot run. */
export async function versionOf(cmd, args) {
  try {
    const r = await run(cmd, args);
    if (r.code !== 0) return null;
    return (r.stdout || r.stderr).trim().split('\n')[0];
  } catch {
    return null;
  }
}
