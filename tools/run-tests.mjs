#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Node 20's --test
// takes no globs, so the files are listed here. Pass substrings to filter.
//
//   node tools/run-tests.mjs [substring...]       every package's and test/'s tests
//   node tools/run-tests.mjs --dir DIR [...]      only DIR/dist (a package's `npm test`, run by lerna, passes `.`)
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const { values: opt, positionals: filters } = parseArgs({ options: { dir: { type: 'string', multiple: true } }, allowPositionals: true });

function walk(dir, out) {
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const dirs = opt.dir
  ? opt.dir.map((d) => resolve(d))
  : [...readdirSync(join(root, 'packages')).map((pkg) => join(root, 'packages', pkg)), join(root, 'test')];
const files = [];
for (const d of dirs) walk(join(d, 'dist'), files);
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (chosen.length === 0) {
  console.error(`run-tests: no test files found under ${dirs.map((d) => join(d, 'dist')).join(', ')} (did tsc -b run?)`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...chosen], { stdio: 'inherit' });
process.exit(r.status ?? 1);
