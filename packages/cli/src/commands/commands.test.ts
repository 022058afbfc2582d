import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCommands } from './index.js';
import { loadExpSubcommands } from './exp/index.js';
import { NotLoaded, type AnyCommand } from './listing.js';

const BIN = fileURLToPath(new URL('../../bin/cairn.js', import.meta.url));

/** What help shows of a command. */
const shown = (c: AnyCommand) => ({ command: c.command, describe: c.describe, aliases: c.aliases });

test('the listings that help shows equal the command modules', async () => {
  assert.deepEqual((await loadCommands([])).map(shown), (await loadCommands([], { listings: false })).map(shown));
  assert.deepEqual((await loadExpSubcommands(undefined, true)).map(shown), (await loadExpSubcommands(undefined, false)).map(shown));
});

test('the command that argv names is loaded, by name or alias; with none, every command is only listed', async () => {
  const [exp] = await loadCommands(['--store', 'exp', 'exp', 'ls', '--json']);
  assert.equal(exp.command, 'exp <command>');
  assert.deepEqual(await loadExpSubcommands('ls', true), [(await import('./exp/list.js')).expListCommand]);
  assert.deepEqual(await loadCommands(['-q', 'gc']), [(await import('./gc.js')).gcCommand]);
  assert.equal((await loadExpSubcommands('bogus', true)).length, 12);
  for (const argv of [[], ['--help'], ['constructor'], ['exq', 'show']]) {
    const listed = await loadCommands(argv);
    assert.equal(listed.length, 7);
    for (const c of listed) assert.throws(() => (c.builder as (y: unknown) => unknown)({}), NotLoaded);
  }
});

// `--json true` reads as a command word `true` to the argv scan, so yargs first gets only listings.
const cairn = (...argv: string[]) => spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });

test('a command that yargs finds but the argv scan does not (a boolean given a value) still runs', () => {
  const r = cairn('--json', 'true', 'exp', 'ls', '--store', '/nonexistent/cairn-store');
  assert.equal(r.stderr.split('\n')[0], 'cairn: error: no cairn store at /nonexistent/cairn-store');
  assert.equal(r.status, 3);
});

test("help of a command that the argv scan does not see lists that command's own subcommands and options", () => {
  assert.equal(cairn('--json', 'true', 'exp', '--help').stdout, cairn('exp', '--help').stdout);
  assert.equal(cairn('--json', 'true', 'exp', 'ls', '--help').stdout, cairn('exp', 'ls', '--help').stdout);
  assert.match(cairn('--json', 'true', 'exp', '--help').stdout, /cairn exp export <names\.\.>/);
});

test('a store of another format ends the command with exit 2 and one error line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-format-'));
  try {
    writeFileSync(join(dir, 'CAIRN'), 'cairn store\nformat 2\n');
    const r = cairn('exp', 'ls', '--store', dir);
    assert.equal(r.stderr.split('\n')[0], `cairn: error: the store at ${dir} has format 2; this cairn reads formats 3 and 4`);
    assert.match(r.stderr.split('\n')[1], /^hint: /);
    assert.equal(r.status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
