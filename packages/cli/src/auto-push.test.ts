import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AutoPush, PUSH_NICE } from './auto-push.js';

/** Field 19 of /proc/PID/stat: the niceness (after the command name, which may hold spaces, in parentheses). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('a background push runs below the training: its process is niced', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-autopush-'));
  try {
    const warnings: string[] = [];
    // No store there: the push fails at once, which is all this needs (it still starts a process).
    const push = new AutoPush('origin', join(dir, 'no-store'), (m) => warnings.push(m));
    push.checkpoint('exp-1');
    const pid = push.pid;
    assert.ok(pid !== undefined, 'a push process started');
    assert.equal(niceOf(pid), Math.max(PUSH_NICE, niceOf(process.pid)));
    assert.notEqual(await push.finish(), null, 'the push failed (no store)');
    assert.equal(warnings.length, 1, 'one warning for the failed push');
    assert.equal(push.busy, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
