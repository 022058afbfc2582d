#!/usr/bin/env node
// Fails on import cycles between source files and on imports of another
// package's internals. Cycles make module initialisation order matter (a
// value read before its module ran is undefined, and only at run time), and
// reaching into `../../store/src/x` or `@cairn/store/dist/x` ties a package
// to files its owner may move at will. tsc checks neither.
//
//   node tools/check-imports.mjs [--root DIR] [--allowlist FILE]
//
// Sources: `src/**/*.ts` of every npm workspace, and `test/**/*.ts` (its own
// tree, not a package: it may use packages only through their names too).
// Type-only imports count: they vanish from the output, but a type cycle
// still couples the files, and it is how a value cycle starts.
//
// Cycles that exist today may be listed in tools/import-allowlist.json as
// { "cycles": [{ "files": [...every file of the cycle...], "reason": "..." }] }.
// A listed cycle must still exist exactly (same files), so the list stays
// true: once a cycle is broken, or grows, its entry has to change.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';

const { values: opt } = parseArgs({
  options: {
    root: { type: 'string', default: resolve(dirname(new URL(import.meta.url).pathname), '..') },
    allowlist: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write('usage: node tools/check-imports.mjs [--root DIR] [--allowlist FILE]\n');
  process.exit(0);
}
const ROOT = resolve(opt.root);
const ALLOWLIST = resolve(opt.allowlist ?? join(ROOT, 'tools', 'import-allowlist.json'));
const rel = (p) => relative(ROOT, p).split(sep).join('/');

// Build output, fixtures and fuzz corpora hold .ts files that are data, not sources.
const SKIP_DIRS = new Set(['node_modules', 'dist', 'fixtures', 'corpus', '.git']);

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) walk(p, out);
    } else if (/\.(ts|tsx|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every source tree: one per workspace, plus test/. */
function loadTrees() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const trees = [];
  for (const ws of pkg.workspaces ?? []) {
    const dir = resolve(ROOT, ws);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    trees.push({ name: manifest.name, dir, exports: exportedSubpaths(manifest), files: walk(join(dir, 'src'), []) });
  }
  if (existsSync(join(ROOT, 'test'))) trees.push({ name: 'test/', dir: join(ROOT, 'test'), exports: null, files: walk(join(ROOT, 'test'), []) });
  return trees;
}

/** The subpaths a package offers: `.` plus the keys of `exports` (only `main` when it has none). */
function exportedSubpaths(manifest) {
  const ex = manifest.exports;
  if (ex === undefined) return new Set(['.']);
  if (typeof ex === 'string' || Array.isArray(ex)) return new Set(['.']);
  const keys = Object.keys(ex);
  // A conditions-only object (`{ "import": ..., "types": ... }`) describes `.`.
  if (keys.every((k) => !k.startsWith('.'))) return new Set(['.']);
  return new Set(keys);
}

/**
 * Module specifiers a file imports, with their line numbers: TypeScript's own
 * pre-parser, so strings and comments that merely look like imports (the
 * fixtures of tests, commented-out code) do not count, and `import type`,
 * `export ... from`, `import()` and `require()` all do.
 */
function importsOf(src) {
  const lineStarts = [0];
  for (let i = src.indexOf('\n'); i !== -1; i = src.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (pos) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  return ts.preProcessFile(src, true, true).importedFiles.map((f) => ({ spec: f.fileName, line: lineOf(f.pos) }));
}

/** A relative specifier resolved to the .ts source it names (NodeNext: `./x.js` is `./x.ts`), or null. */
function resolveRelative(fromFile, spec) {
  const base = resolve(dirname(fromFile), spec);
  const stem = base.replace(/\.(m|c)?js$/, '');
  const candidates = [
    base,
    `${stem}.ts`,
    `${stem}.tsx`,
    `${base.replace(/\.mjs$/, '')}.mts`,
    `${base.replace(/\.cjs$/, '')}.cts`,
    join(base, 'index.ts'),
  ];
  for (const c of candidates) {
    if (/\.(ts|tsx|mts|cts)$/.test(c) && existsSync(c) && statSync(c).isFile()) return c;
  }
  return null;
}

function treeOf(trees, file) {
  let best = null;
  for (const t of trees) if ((file === t.dir || file.startsWith(t.dir + sep)) && (!best || t.dir.length > best.dir.length)) best = t;
  return best;
}

/** Strongly connected components (Tarjan, iterative: a long chain must not overflow the stack). */
function sccs(nodes, edges) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const out = [];
  let next = 0;
  for (const start of nodes) {
    if (index.has(start)) continue;
    const work = [[start, 0]];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const frame = work[work.length - 1];
      const [v] = frame;
      const succ = [...(edges.get(v) ?? [])];
      if (frame[1] < succ.length) {
        const w = succ[frame[1]++];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === index.get(v)) {
        const comp = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          comp.push(w);
        } while (w !== v);
        const selfLoop = comp.length === 1 && (edges.get(v) ?? new Set()).has(v);
        if (comp.length > 1 || selfLoop) out.push(comp.sort());
      }
    }
  }
  return out;
}

/** One concrete loop through a component, to show in the message (the shortest back to its first file). */
function exampleLoop(comp, edges) {
  const inComp = new Set(comp);
  const start = comp[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of edges.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const path = [v];
        for (let p = prev.get(v); p !== null; p = prev.get(p)) path.unshift(p);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

function main() {
  const trees = loadTrees();
  const byName = new Map(trees.filter((t) => t.exports).map((t) => [t.name, t]));
  const problems = [];
  const nodes = [];
  const edges = new Map();

  for (const tree of trees) {
    for (const file of tree.files) {
      nodes.push(rel(file));
      const deps = new Set();
      for (const { spec, line } of importsOf(readFileSync(file, 'utf8'))) {
        const where = `${rel(file)}:${line}`;
        if (spec.startsWith('.')) {
          const target = resolveRelative(file, spec);
          const targetTree = treeOf(trees, target ?? resolve(dirname(file), spec));
          if (targetTree !== tree) {
            const through = targetTree?.exports ? ` (use '${targetTree.name}')` : '';
            problems.push(`${where}: '${spec}' reaches outside ${tree.name} into ${targetTree ? targetTree.name : rel(resolve(dirname(file), spec))}${through}`);
            continue;
          }
          if (target) deps.add(rel(target));
          continue;
        }
        const m = /^(@[^/]+\/[^/]+|[^@/][^/]*)(\/.*)?$/.exec(spec);
        const other = m && byName.get(m[1]);
        if (!other) continue;
        const sub = m[2] ? `.${m[2]}` : '.';
        if (!other.exports.has(sub)) {
          problems.push(`${where}: '${spec}' is not a public entry of ${other.name} (exports: ${[...other.exports].map((s) => (s === '.' ? `'${other.name}'` : `'${other.name}${s.slice(1)}'`)).join(', ')})`);
        }
      }
      edges.set(rel(file), deps);
    }
  }

  let allow = [];
  if (existsSync(ALLOWLIST)) {
    const parsed = JSON.parse(readFileSync(ALLOWLIST, 'utf8'));
    allow = parsed.cycles ?? [];
    for (const [i, a] of allow.entries()) {
      if (!Array.isArray(a.files) || a.files.length === 0 || typeof a.reason !== 'string' || !a.reason.trim()) {
        problems.push(`${rel(ALLOWLIST)}: entry ${i} needs "files" (every file of the cycle) and a "reason"`);
      }
    }
  }
  const key = (files) => [...files].sort().join('\n');
  const allowed = new Map(allow.filter((a) => Array.isArray(a.files)).map((a) => [key(a.files), a]));
  const seen = new Set();
  for (const comp of sccs(nodes, edges)) {
    const k = key(comp);
    if (allowed.has(k)) {
      seen.add(k);
      continue;
    }
    problems.push(
      `import cycle among ${comp.length} file(s): ${comp.join(', ')}\n    for example: ${exampleLoop(comp, edges).join(' -> ')}` +
        (allow.length ? `\n    (not in ${rel(ALLOWLIST)}, or not with exactly these files)` : ''),
    );
  }
  for (const [k, a] of allowed) {
    if (!seen.has(k)) {
      problems.push(`${rel(ALLOWLIST)}: the allowlisted cycle ${a.files.join(', ')} no longer exists as listed: remove or update its entry`);
    }
  }

  if (problems.length) {
    for (const p of problems) process.stderr.write(`check-imports: ${p}\n`);
    process.stderr.write(`check-imports: ${problems.length} problem(s)\n`);
    process.exit(1);
  }
  const files = nodes.length;
  process.stdout.write(`check-imports: ${files} files, no new cycles (${allowed.size} allowlisted), no imports of package internals\n`);
}

main();
