/**
 * The README's error tables are the contract callers code against, so they
 * must not drift from the source: every code a package throws is in its
 * README's table (the store's table lists every code of every package), and
 * every code a table lists is thrown somewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/errors-doc.test.js -> the repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = readdirSync(join(ROOT, 'packages')).filter((p) => existsSync(join(ROOT, 'packages', p, 'src')));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') && name !== 'test-support.ts' && name !== 'test-helpers.ts' ? [p] : [];
  });
}

/** Codes given to `new CairnError(...)` in a package's source (a literal first argument, possibly on the next line). */
function thrownCodes(pkg: string): Set<string> {
  const codes = new Set<string>();
  for (const file of sources(join(ROOT, 'packages', pkg, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/new CairnError\(\s*'([A-Z_]+)'/g)) codes.add(m[1]);
  }
  return codes;
}

/** Codes in the first column of the table under a README's "## Errors" heading. */
function documentedCodes(readme: string): Set<string> {
  const text = readFileSync(readme, 'utf8');
  const start = text.search(/^## Errors\s*$/m);
  assert.ok(start >= 0, `${readme} has no "## Errors" section`);
  const section = text.slice(start).split(/^## (?!Errors)/m)[0];
  return new Set([...section.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map((m) => m[1]));
}

const sorted = (s: Iterable<string>) => [...s].sort();

test('the store README documents every error code any package throws, and only those', () => {
  const thrown = new Set(PACKAGES.flatMap((p) => [...thrownCodes(p)]));
  const documented = documentedCodes(join(ROOT, 'packages', 'store', 'README.md'));
  assert.ok(thrown.size > 0, 'no CairnError found in the sources: is the pattern still right?');
  assert.deepEqual(sorted([...thrown].filter((c) => !documented.has(c))), [], 'thrown but missing from packages/store/README.md');
  assert.deepEqual(sorted([...documented].filter((c) => !thrown.has(c))), [], 'in packages/store/README.md but never thrown');
});

test('the CairnErrorCode type lists exactly the documented codes', () => {
  const errors = readFileSync(join(ROOT, 'packages', 'store', 'src', 'errors.ts'), 'utf8');
  const union = errors.match(/export type CairnErrorCode =([^;]+);/);
  assert.ok(union, 'CairnErrorCode not found in errors.ts');
  const declared = new Set([...union[1].matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]));
  const documented = documentedCodes(join(ROOT, 'packages', 'store', 'README.md'));
  assert.deepEqual(sorted([...declared].filter((c) => !documented.has(c))), [], 'declared but missing from packages/store/README.md');
  assert.deepEqual(sorted([...documented].filter((c) => !declared.has(c))), [], 'documented but not a CairnErrorCode');
});

for (const pkg of ['lineage', 'runner', 'transfer', 'remote']) {
  test(`packages/${pkg}/README.md documents the codes ${pkg} throws, and only those`, () => {
    const thrown = thrownCodes(pkg);
    const documented = documentedCodes(join(ROOT, 'packages', pkg, 'README.md'));
    assert.deepEqual(sorted([...thrown].filter((c) => !documented.has(c))), [], `thrown by ${pkg} but missing from its README`);
    assert.deepEqual(sorted([...documented].filter((c) => !thrown.has(c))), [], `in ${pkg}'s README but not thrown by ${pkg}`);
  });
}
