#!/usr/bin/env node
// `npm run demo`: a real (small, pure-Python) training run with a checkpoint
// per epoch, on the embedded default store (demo/.cairn), then a resumed
// run, a modified branch, and the experiments table.
import { spawnSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages', 'cli', 'bin', 'cairn.js');
const ws = join(root, 'demo');

function cairn(...args) {
  console.log(`\n$ cairn ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: ws, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`demo: 'cairn ${args.join(' ')}' exited with ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

rmSync(ws, { recursive: true, force: true });
mkdirSync(ws);
console.log(`demo workspace: ${ws}`);
cairn('init', '--example');
cairn('exp', 'run');
cairn('exp', 'run');
cairn('exp', 'run', '-S', 'lr=30');
cairn('exp', 'show', '--no-pager');
cairn('store', 'stats');
cairn('fsck');
console.log(`\nTry it yourself: cd demo && npx cairn exp show`);
