/**
 * The repository stands on its own: docs/CLI.md names every flag that
 * `cairn ... --help` shows and every environment variable the code reads or
 * sets, the README links only inside the repository, the license is there,
 * and `cairn` runs from a folder outside the clone the way the README says.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { CAIRN_BIN, tempDir } from './lib/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_MD = readFileSync(join(ROOT, 'docs', 'CLI.md'), 'utf8');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function help(words: string[]): string {
  const r = spawnSync(process.execPath, [CAIRN_BIN, ...words, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
  assert.equal(r.status, 0, `cairn ${words.join(' ')} --help: ${r.stderr}`);
  return r.stdout;
}

/** The subcommands a help text lists (`cairn exp show ...` lines under Commands:). */
function subcommands(text: string, words: string[]): string[] {
  const prefix = ['cairn', ...words].join(' ');
  const out: string[] = [];
  for (const m of text.matchAll(new RegExp(`^  ${prefix} ([a-z]+)`, 'gm'))) out.push(m[1]);
  return out;
}

test('docs/CLI.md names every command and every flag of cairn --help', () => {
  const commands: string[][] = [];
  const visit = (words: string[]) => {
    const text = help(words);
    const subs = subcommands(text, words);
    if (subs.length === 0 || words.length > 0) commands.push(words);
    for (const s of subs) visit([...words, s]);
  };
  visit([]);
  assert.ok(commands.some((c) => c.join(' ') === 'exp run') && commands.some((c) => c.join(' ') === 'store add'), `commands found: ${commands.map((c) => c.join(' ')).join(', ')}`);
  const missing: string[] = [];
  for (const words of commands) {
    const leaf = words.at(-1)!;
    if (!CLI_MD.includes(`cairn ${words.join(' ')}`) && !CLI_MD.includes(`\`${leaf} `) && !CLI_MD.includes(`${leaf}|`)) missing.push(`command: cairn ${words.join(' ')}`);
    for (const m of help(words).matchAll(/^\s+(?:-([a-zA-Z]), )?--([a-z][a-z-]*)/gm)) {
      if (!CLI_MD.includes(`--${m[2]}`)) missing.push(`cairn ${words.join(' ')}: --${m[2]}`);
      if (m[1] && !CLI_MD.includes(`-${m[1]}`)) missing.push(`cairn ${words.join(' ')}: -${m[1]}`);
    }
  }
  assert.deepEqual(missing, [], 'missing from docs/CLI.md');
});

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if ((name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) || name.endsWith('.py')) out.push(p);
  }
  return out;
}

test('docs/CLI.md names every environment variable the packages read or set', () => {
  const files = readdirSync(join(ROOT, 'packages')).flatMap((pkg) =>
    ['src', 'python'].map((d) => join(ROOT, 'packages', pkg, d)).filter((d) => existsSync(d)).flatMap((d) => sources(d)),
  );
  const names = new Map<string, string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]+)/g, // process.env.X, env.X
    /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g,
    /\b(?:environ|env)\.get\(\s*['"]([A-Z][A-Z0-9_]+)['"]/g, // Python
    /\bgetenv\(\s*['"]([A-Z][A-Z0-9_]+)['"]/g,
    /\b((?:CAIRN|DVCLIVE|DVC)_[A-Z0-9_]+)\b/g, // every cairn, DVC and DVCLive name, read or set
  ];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) names.set(m[1], relative(ROOT, f));
  }
  // Names that are constants, not environment variables.
  for (const notEnv of ['DVC_SIGNAL_FILE']) names.delete(notEnv);
  for (const expected of ['CAIRN_STORE', 'CAIRN_LOCK_TIMEOUT', 'DVCLIVE_PATH', 'DVC_ROOT']) assert.ok(names.has(expected), `the scan finds ${expected}`);
  const missing = [...names].filter(([n]) => !new RegExp(`\`${n}\``).test(CLI_MD)).map(([n, f]) => `${n} (${f})`);
  assert.deepEqual(missing, [], 'missing from docs/CLI.md');
});

test('README and docs link only inside the repository, and the license is MIT', () => {
  for (const file of ['README.md', 'docs/CLI.md', 'docs/ARCHITECTURE.md', 'docs/FORMAT.md']) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    assert.doesNotMatch(text, /\/work\/shared|\.\.\/shared|SPEC\.md/, `${file} points at the brief`);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split('#')[0];
      if (/^[a-z]+:/.test(target) || target === '') continue;
      const abs = resolve(join(ROOT, file, '..'), target);
      assert.ok(!relative(ROOT, abs).startsWith('..'), `${file} links outside the repository: ${m[1]}`);
      assert.ok(existsSync(abs), `${file} links to a missing file: ${m[1]}`);
    }
  }
  assert.match(README, /\]\(docs\/CLI\.md\)/, 'the README links the reference');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License/);
  assert.match(license, /Copyright \(c\) \d{4} the cairn authors/);
});

test('cairn runs from a folder outside the clone after the README PATH line', async () => {
  const line = README.split('\n').find((l) => l.startsWith('export PATH='));
  assert.ok(line, 'the README says how to put cairn on PATH');
  const setPath = line.replace(/\s+#.*$/, '');
  const outside = await tempDir('cairn-outside-');
  assert.ok(relative(ROOT, outside).startsWith('..'), 'the folder is outside the clone');
  // A shell without cairn on PATH, as a new terminal has it.
  const path = (process.env.PATH ?? '').split(':').filter((d) => !existsSync(join(d, 'cairn'))).join(':');
  const script = `cd "$CLONE" && ${setPath} && cd "$OUTSIDE" && cairn init -q && cairn exp list --json && command -v cairn`;
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path, CLONE: ROOT, OUTSIDE: outside };
  delete env.CAIRN_STORE;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', env });
  assert.equal(r.status, 0, `${script}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^\[\]$/m, 'exp list --json of the new store');
  assert.ok(existsSync(join(outside, '.cairn')), 'the store was made in the outside folder');
  assert.equal(r.stdout.trim().split('\n').at(-1), join(ROOT, 'node_modules', '.bin', 'cairn'));
});
