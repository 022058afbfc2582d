// tools/check-imports.mjs on small made-up monorepos: each case is the
// smallest tree that shows one thing the check must catch or let pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './lib/cli.js';

const CHECKER = fileURLToPath(new URL('../../tools/check-imports.mjs', import.meta.url));

type Tree = Record<string, string>;

/** Two packages, @x/a (exports `.` and `./extra`) and @x/b, plus whatever `files` adds or replaces. */
async function repo(files: Tree, allowlist?: unknown): Promise<string> {
  const root = await tempDir('cairn-check-imports-');
  const base: Tree = {
    'package.json': JSON.stringify({ name: 'fixture', private: true, workspaces: ['packages/a', 'packages/b'] }),
    'packages/a/package.json': JSON.stringify({ name: '@x/a', exports: { '.': './dist/index.js', './extra': './dist/extra.js' } }),
    'packages/a/src/index.ts': "export const a = 1;\n",
    'packages/a/src/extra.ts': "export const extra = 2;\n",
    'packages/b/package.json': JSON.stringify({ name: '@x/b', exports: { '.': './dist/index.js' } }),
    'packages/b/src/index.ts': "import { a } from '@x/a';\nexport const b = a;\n",
  };
  if (allowlist !== undefined) base['tools/import-allowlist.json'] = JSON.stringify(allowlist);
  for (const [path, text] of Object.entries({ ...base, ...files })) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

function check(root: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [CHECKER, '--root', root], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

const cycle: Tree = {
  'packages/a/src/p.ts': "import { q } from './q.js';\nexport const p = () => q;\n",
  'packages/a/src/q.ts': "import type { P } from './r.js';\nexport const q = 1 as unknown as P;\n",
  'packages/a/src/r.ts': "import { p } from './p.js';\nexport type P = typeof p;\n",
};
const cycleFiles = ['packages/a/src/p.ts', 'packages/a/src/q.ts', 'packages/a/src/r.ts'];

describe('check-imports', () => {
  it('passes a tree whose packages use each other through their names and public subpaths', async () => {
    const r = check(await repo({ 'packages/b/src/more.ts': "export { extra } from '@x/a/extra';\nimport './side.js';\n", 'packages/b/src/side.ts': '' }));
    assert.equal(r.code, 0, r.out);
  });

  it('fails on a cycle, type-only imports included, and names its files and one loop', async () => {
    const r = check(await repo(cycle));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /import cycle among 3 file\(s\): packages\/a\/src\/p\.ts, packages\/a\/src\/q\.ts, packages\/a\/src\/r\.ts/);
    assert.match(r.out, /p\.ts -> packages\/a\/src\/q\.ts -> packages\/a\/src\/r\.ts -> packages\/a\/src\/p\.ts/);
  });

  it('fails on a file importing itself and on a cycle through index.ts and import()', async () => {
    assert.equal(check(await repo({ 'packages/a/src/self.ts': "export * from './self.js';\n" })).code, 1);
    const r = check(
      await repo({
        'packages/b/src/dir/index.ts': "export const d = async () => (await import('../user.js')).u;\n",
        'packages/b/src/user.ts': "import { d } from './dir';\nexport const u = d;\n",
      }),
    );
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /packages\/b\/src\/dir\/index\.ts, packages\/b\/src\/user\.ts/);
  });

  it('ignores imports that appear only in comments and strings', async () => {
    const r = check(
      await repo({
        'packages/a/src/p.ts': "// import { q } from './q.js';\nexport const text = \"import { q } from './q.js'\";\n/* import '../../b/src/index.js' */\n",
        'packages/a/src/q.ts': "import { text } from './p.js';\nexport const q = text;\n",
      }),
    );
    assert.equal(r.code, 0, r.out);
  });

  it('lets an allowlisted cycle pass, and fails once it is gone or has grown', async () => {
    const allow = { cycles: [{ files: cycleFiles, reason: 'being removed' }] };
    assert.equal(check(await repo(cycle, allow)).code, 0);

    const gone = check(await repo({}, allow));
    assert.equal(gone.code, 1, gone.out);
    assert.match(gone.out, /no longer exists as listed: remove or update its entry/);

    const grown = check(
      await repo({ ...cycle, 'packages/a/src/r.ts': "import { p } from './p.js';\nimport './s.js';\nexport type P = typeof p;\n", 'packages/a/src/s.ts': "import './p.js';\n" }, allow),
    );
    assert.equal(grown.code, 1, grown.out);
    assert.match(grown.out, /import cycle among 4 file\(s\)/);
    assert.match(grown.out, /no longer exists as listed/);
  });

  it('refuses an allowlist entry without a reason', async () => {
    const r = check(await repo(cycle, { cycles: [{ files: cycleFiles, reason: '' }] }));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /needs "files" .* and a "reason"/);
  });

  it("fails on a relative import of another package's sources", async () => {
    const r = check(await repo({ 'packages/b/src/deep.ts': "import { a } from '../../a/src/index.js';\nexport const x = a;\n" }));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /packages\/b\/src\/deep\.ts:1: '\.\.\/\.\.\/a\/src\/index\.js' reaches outside @x\/b into @x\/a \(use '@x\/a'\)/);
  });

  it('fails on a package-name import of a path the package does not export', async () => {
    const r = check(await repo({ 'packages/b/src/deep.ts': "\nimport type { a } from '@x/a/dist/index.js';\nexport type X = typeof a;\n" }));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /packages\/b\/src\/deep\.ts:2: '@x\/a\/dist\/index\.js' is not a public entry of @x\/a \(exports: '@x\/a', '@x\/a\/extra'\)/);
  });

  it('holds test/ to the same rule: packages only through their names', async () => {
    const ok = check(await repo({ 'test/t.test.ts': "import { a } from '@x/a';\nimport { h } from './lib/h.js';\nexport const t = a + h;\n", 'test/lib/h.ts': 'export const h = 1;\n' }));
    assert.equal(ok.code, 0, ok.out);
    const bad = check(await repo({ 'test/t.test.ts': "import { a } from '../packages/a/src/index.js';\nexport const t = a;\n" }));
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /test\/t\.test\.ts:1: .* reaches outside test\/ into @x\/a/);
  });
});
