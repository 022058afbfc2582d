import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isCairnError } from './errors.js';
import { formatOf, parseJsonLenient, parseStructured, parseYaml, parseYamlValue, splitAssignment } from './structured.js';
import { writeFileDurable } from './durable.js';

const badInput = (re: RegExp) => (err: unknown) => isCairnError(err, 'BAD_INPUT') && re.test((err as Error).message);

describe('formatOf', () => {
  it('reads .json as JSON, YAML and unknown extensions as YAML, and refuses TOML and Python', () => {
    assert.equal(formatOf('p.json', 'params'), 'json');
    assert.equal(formatOf('P.JSON', 'params'), 'json');
    for (const f of ['p.yaml', 'p.yml', 'params', 'p.cfg']) assert.equal(formatOf(f, 'params'), 'yaml');
    assert.throws(() => formatOf('p.toml', 'params'), badInput(/TOML params files are not supported/));
    assert.throws(() => formatOf('p.py', 'metrics'), badInput(/PY metrics files are not supported/));
  });
});

describe('parseJsonLenient', () => {
  it('reads plain JSON, and the NaN and Infinity that Python writes', () => {
    assert.deepEqual(parseJsonLenient('{"a": [1, "x", null]}'), { a: [1, 'x', null] });
    const v = parseJsonLenient('{"loss": NaN, "hi": Infinity, "lo": -Infinity, "s": "NaN"}') as Record<string, unknown>;
    assert.ok(Number.isNaN(v.loss));
    assert.equal(v.hi, Infinity);
    assert.equal(v.lo, -Infinity);
    assert.equal(v.s, 'NaN');
  });

  it('keeps a key named __proto__ as data, not as the prototype', () => {
    const v = parseJsonLenient('{"__proto__": {"x": 1}, "n": NaN}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(v), ['__proto__', 'n']);
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });

  it('says where a syntax error is', () => {
    assert.throws(() => parseJsonLenient('{"a": NaN,\n "b" 1}'), (e: Error & { offset?: number }) => /expected ':'/.test(e.message) && e.offset === 16);
    assert.throws(() => parseJsonLenient('[NaN'), /unexpected end of file/);
  });

  it('refuses nesting deeper than 1000 levels instead of overflowing the stack', () => {
    assert.deepEqual(parseJsonLenient('['.repeat(500) + 'NaN' + ']'.repeat(500)) instanceof Array, true);
    assert.throws(() => parseJsonLenient('['.repeat(20000) + 'NaN' + ']'.repeat(20000)), /nested deeper than 1000 levels/);
  });
});

describe('parseStructured', () => {
  it('reads YAML and JSON mappings, empty text as {}', () => {
    assert.deepEqual(parseStructured('lr: 0.1\nmodel: {depth: 3}\n', 'params.yaml', 'yaml', 'params'), { lr: 0.1, model: { depth: 3 } });
    assert.deepEqual(parseStructured('{"lr": 0.1}', 'params.json', 'json', 'params'), { lr: 0.1 });
    assert.deepEqual(parseStructured('  \n', 'params.yaml', 'yaml', 'params'), {});
    assert.deepEqual(parseStructured('# only a comment\n', 'params.yaml', 'yaml', 'params'), {});
  });

  it('names the file, the line and the format of a syntax error', () => {
    assert.throws(() => parseStructured('a: 1\nb: [1,\n', 'p.yaml', 'yaml', 'params'), badInput(/^p\.yaml:\d+: malformed params YAML: /));
    assert.throws(() => parseStructured('{\n"a": 1,\n}', 'm.json', 'json', 'metrics'), badInput(/^m\.json:3: malformed metrics JSON: /));
  });

  it('refuses a value that is not a mapping', () => {
    for (const [text, format] of [['- 1\n- 2', 'yaml'], ['3', 'yaml'], ['[1]', 'json'], ['"x"', 'json']] as const) {
      assert.throws(() => parseStructured(text, 'p', format, 'params'), badInput(/params file must hold a mapping of names to values/), text);
    }
  });

  it('refuses duplicate keys, an alias to no anchor, and an alias bomb with a BAD_INPUT error', () => {
    assert.throws(() => parseStructured('a: 1\nb: 2\na: 3\n', 'p.yaml', 'yaml', 'params'), badInput(/^p\.yaml:3: malformed params YAML: Map keys must be unique/));
    assert.throws(() => parseStructured('lr: *x\nepochs: &x 3\n', 'p.yaml', 'yaml', 'params'), badInput(/^p\.yaml: malformed params YAML: .*alias/i));
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefghij'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    assert.throws(() => parseStructured(bomb, 'p.yaml', 'yaml', 'params'), badInput(/malformed params YAML/));
  });

  it('refuses YAML nested deep enough to take the parser down, and still reads deep but sane files', () => {
    for (const text of ['lr: ' + '['.repeat(1000) + '1' + ']'.repeat(1000), '- '.repeat(2000) + '1', 'x: {a: '.repeat(1000) + '1' + '}'.repeat(1000)]) {
      assert.throws(() => parseStructured(text, 'p.yaml', 'yaml', 'params'), badInput(/nested (deeper than 256 levels|too deeply)/));
    }
    const deep = Array.from({ length: 50 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n') + ' 1\n';
    let v: unknown = parseStructured(deep, 'p.yaml', 'yaml', 'params');
    for (let i = 0; i < 49; i++) v = (v as Record<string, unknown>)[`k${i}`];
    assert.deepEqual(v, { k49: 1 });
    // Brackets in quoted strings, block scalars and comments are text, not nesting.
    const text = `a: "${'['.repeat(500)}"\nb: '${'{'.repeat(500)}'\nc: |\n  ${'['.repeat(500)}\nd: 1 # ${'['.repeat(500)}\n`;
    assert.deepEqual(Object.keys(parseStructured(text, 'p.yaml', 'yaml', 'params')), ['a', 'b', 'c', 'd']);
  });
});

describe('parseYaml', () => {
  it('finds duplicate keys in linear time (the yaml package compares every pair)', () => {
    const keys = Array.from({ length: 30000 }, (_, i) => `k${i}: ${i}`).join('\n');
    const t = Date.now();
    assert.equal(parseYaml(keys).errors.length, 0);
    const dup = parseYaml(keys + '\nk17: 1');
    assert.match(dup.errors[0].message, /Map keys must be unique/);
    assert.ok(Date.now() - t < 20000, `${Date.now() - t} ms`);
  });

  it('lets merge keys repeat when merging is on, as the package does', () => {
    const text = 'a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n';
    assert.deepEqual(parseYaml(text, { merge: true }).errors, []);
    assert.match(parseYaml(text).errors[0].message, /Map keys must be unique/);
  });
});

describe('command-line values', () => {
  it('reads a value as YAML and splits key=value at the first =', () => {
    assert.deepEqual(parseYamlValue('[1, 2]', '-S').value, [1, 2]);
    assert.equal(parseYamlValue('0.3', '-S').value, 0.3);
    assert.throws(() => parseYamlValue('[1,', '-S lr'), badInput(/-S lr: value '\[1,' is not valid YAML/));
    assert.deepEqual(splitAssignment('model.lr=a=b', '-S', 'lr=0.1'), { key: 'model.lr', raw: 'a=b' });
    assert.deepEqual(splitAssignment('lr=', '-S', 'lr=0.1'), { key: 'lr', raw: '' });
    assert.throws(() => splitAssignment('lr', '-S', 'lr=0.1'), badInput(/has no '='/));
    assert.throws(() => splitAssignment('a..b=1', '-S', 'lr=0.1'), badInput(/has an empty key/));
  });
});

describe('writeFileDurable', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('replaces the content and keeps the mode, leaving no temp file', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-structured-'));
    const f = path.join(dir, 'params.yaml');
    await writeFile(f, 'lr: 1\n');
    await chmod(f, 0o640);
    await writeFileDurable(f, 'lr: 2\n');
    assert.equal(await readFile(f, 'utf8'), 'lr: 2\n');
    assert.equal((await stat(f)).mode & 0o777, 0o640);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(dir), ['params.yaml']);
  });
});
