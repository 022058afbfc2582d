import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { CairnError } from './errors.js';
import { getParam, groupSetArgs, parseSetArg, readParams, setParams, writeParamsValues } from './params.js';

let dir: string;
beforeEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-params-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PARAMS = `# training parameters
lr: 0.1      # learning rate
epochs: 10

model:
  depth: 3   # layers
  name: "resnet"
  act: 'relu'
sizes: [32, 64]
flags:
  - a
  - b
`;

const read = (f: string) => readFile(path.join(dir, f), 'utf8');
const write = (f: string, t: string) => writeFile(path.join(dir, f), t);
const badInput = (e: unknown) => e instanceof CairnError && e.code === 'BAD_INPUT';

describe('readParams', () => {
  it('reads dotted keys and whole files', async () => {
    await write('params.yaml', PARAMS);
    await write('other.json', '{"a": {"b": 2}, "c": [1, 2]}');
    const v = await readParams(dir, [
      { file: 'params.yaml', keys: ['lr', 'model.depth', 'model', 'sizes.1'] },
      { file: 'other.json', keys: [] },
    ]);
    assert.deepEqual(v, {
      'params.yaml': { lr: 0.1, 'model.depth': 3, model: { depth: 3, name: 'resnet', act: 'relu' }, 'sizes.1': 64 },
      'other.json': { a: { b: 2 }, c: [1, 2] },
    });
  });

  it('reports missing keys, files and malformed content', async () => {
    await write('params.yaml', PARAMS);
    await assert.rejects(readParams(dir, [{ file: 'params.yaml', keys: ['lr', 'momentum'] }]), (e: unknown) => badInput(e) && /params\.yaml: missing param 'momentum'/.test((e as Error).message));
    await assert.rejects(readParams(dir, [{ file: 'nope.yaml', keys: ['lr'] }]), (e: unknown) => badInput(e) && /params file 'nope\.yaml' not found/.test((e as Error).message));
    assert.deepEqual(await readParams(dir, [{ file: 'nope.yaml', keys: ['lr'] }, { file: 'params.yaml', keys: ['lr', 'x'] }], { allowMissing: true }), {
      'params.yaml': { lr: 0.1 },
    });
    await write('bad.yaml', 'a: 1\nb: [1,\n');
    await assert.rejects(readParams(dir, [{ file: 'bad.yaml', keys: [] }]), (e: unknown) => badInput(e) && /^bad\.yaml:\d+: malformed params YAML/.test((e as Error).message));
    await write('bad.json', '{\n  "a": 1,\n  "b": }\n');
    await assert.rejects(readParams(dir, [{ file: 'bad.json', keys: [] }]), (e: unknown) => badInput(e) && /^bad\.json:3: malformed params JSON/.test((e as Error).message));
    await write('list.yaml', '- 1\n- 2\n');
    await assert.rejects(readParams(dir, [{ file: 'list.yaml', keys: [] }]), /must hold a mapping/);
    await write('p.toml', 'a = 1\n');
    await assert.rejects(readParams(dir, [{ file: 'p.toml', keys: [] }]), /TOML params files are not supported/);
  });

  it('getParam prefers a literal dotted key', () => {
    assert.deepEqual(getParam({ 'a.b': 1, a: { b: 2 } }, 'a.b'), { found: true, value: 1 });
    assert.deepEqual(getParam({ a: { b: 2 } }, 'a.b'), { found: true, value: 2 });
    assert.deepEqual(getParam({ a: [{ b: 5 }] }, 'a.0.b'), { found: true, value: 5 });
    assert.deepEqual(getParam({ a: 1 }, 'a.b'), { found: false });
  });
});

describe('setParams', () => {
  it('changes only the characters of the values set', async () => {
    await write('params.yaml', PARAMS);
    const set = await setParams(dir, 'params.yaml', ['lr=0.3', 'model.name=vgg', 'model.act=gelu', 'sizes=[1, 2, 3]', 'epochs=true']);
    assert.deepEqual(set, { lr: 0.3, 'model.name': 'vgg', 'model.act': 'gelu', sizes: [1, 2, 3], epochs: true });
    assert.equal(
      await read('params.yaml'),
      PARAMS.replace('0.1 ', '0.3 ').replace('"resnet"', '"vgg"').replace("'relu'", "'gelu'").replace('[32, 64]', '[1, 2, 3]').replace('10', 'true'),
    );
  });

  it('keeps block style and comments when it must add keys', async () => {
    await write('params.yaml', PARAMS);
    await setParams(dir, 'params.yaml', ['model.dropout=0.5', 'optim.name=adam', 'lr=1e-3']);
    const text = await read('params.yaml');
    assert.match(text, /^# training parameters\n/);
    // The value keeps the notation it was given in.
    assert.match(text, /^lr: 1e-3 # learning rate$/m);
    assert.match(text, /^sizes: \[32, 64\]$/m);
    assert.match(text, /^model:\n {2}depth: 3 # layers\n {2}name: "resnet"\n {2}act: 'relu'\n {2}dropout: 0\.5\n/m);
    assert.match(text, /^optim:\n {2}name: adam$/m);
    assert.match(text, /^flags:\n {2}- a\n {2}- b$/m);
    const v = await readParams(dir, [{ file: 'params.yaml', keys: ['model.dropout', 'optim.name', 'lr'] }]);
    assert.deepEqual(v['params.yaml'], { 'model.dropout': 0.5, 'optim.name': 'adam', lr: 0.001 });
  });

  it('keeps a block list block style when given a flow value', async () => {
    await write('params.yaml', PARAMS);
    await setParams(dir, 'params.yaml', ['flags=[x, {y: 1}]']);
    assert.match(await read('params.yaml'), /^flags:\n {2}- x\n {2}- y: 1\n$/m);
    assert.match(await read('params.yaml'), /^sizes: \[32, 64\]$/m);
  });

  it('creates the file when absent', async () => {
    await setParams(dir, 'conf/params.yaml', ['lr=0.2', 'model.depth=4', 'name=hello world']);
    assert.equal(await read('conf/params.yaml'), 'lr: 0.2\nmodel:\n  depth: 4\nname: hello world\n');
  });

  it('keeps strings that look like other types quoted', async () => {
    await write('params.yaml', 'tag: "v1"\nn: 1\n');
    await writeParamsValues(dir, 'params.yaml', { tag: 'true', n: '2' });
    const text = await read('params.yaml');
    assert.deepEqual((await readParams(dir, [{ file: 'params.yaml', keys: [] }]))['params.yaml'], { tag: 'true', n: '2' });
    assert.equal(text, 'tag: "true"\nn: "2"\n');
  });

  it('edits JSON files in place and adds keys', async () => {
    const json = '{\n    "lr": 0.1,\n    "model": {"depth": 3}\n}\n';
    await write('params.json', json);
    await setParams(dir, 'params.json', ['lr=0.5']);
    assert.equal(await read('params.json'), json.replace('0.1', '0.5'));
    await setParams(dir, 'params.json', ['model.width=8']);
    assert.deepEqual(JSON.parse(await read('params.json')), { lr: 0.5, model: { depth: 3, width: 8 } });
    assert.match(await read('params.json'), /^\{\n {4}"lr"/);
  });

  it('refuses bad -S arguments clearly', async () => {
    await assert.rejects(setParams(dir, 'params.yaml', ['lr']), (e: unknown) => badInput(e) && /bad -S 'lr' has no '=': expected key=value/.test((e as Error).message));
    await assert.rejects(setParams(dir, 'params.yaml', ['=3']), (e: unknown) => badInput(e) && /has an empty key/.test((e as Error).message));
    await assert.rejects(setParams(dir, 'params.yaml', ['a..b=3']), /has an empty key/);
    await assert.rejects(setParams(dir, 'params.yaml', ['lr=[1,']), (e: unknown) => badInput(e) && /-S lr: value '\[1,' is not valid YAML/.test((e as Error).message));
    await write('params.yaml', 'lr: 0.1\n');
    await assert.rejects(setParams(dir, 'params.yaml', ['lr.x=1']), /cannot set 'lr\.x': 'lr' is not a mapping/);
    assert.equal(await read('params.yaml'), 'lr: 0.1\n');
  });

  it('parses file prefixes and YAML values', () => {
    assert.deepEqual(
      [parseSetArg('lr=0.3'), parseSetArg('other.yaml:x=true'), parseSetArg('url=http://a:b'), parseSetArg('s=')].map((a) => [a.file, a.key, a.value]),
      [
        [undefined, 'lr', 0.3],
        ['other.yaml', 'x', true],
        [undefined, 'url', 'http://a:b'],
        [undefined, 's', null],
      ],
    );
    const g = groupSetArgs(['a=1', 'o.json:b=2', 'c=x']);
    assert.deepEqual([...g.keys()], ['params.yaml', 'o.json']);
    assert.deepEqual(g.get('params.yaml')!.map((a) => a.key), ['a', 'c']);
  });
});

describe('writeParamsValues', () => {
  it('restores values byte for byte', async () => {
    await write('params.yaml', PARAMS);
    const saved = await readParams(dir, [{ file: 'params.yaml', keys: ['lr', 'model.name', 'sizes'] }]);
    await setParams(dir, 'params.yaml', ['lr=0.9', 'model.name=x', 'sizes=[1]']);
    assert.equal(await writeParamsValues(dir, 'params.yaml', saved['params.yaml']), true);
    assert.equal(await read('params.yaml'), PARAMS);
    assert.equal(await writeParamsValues(dir, 'params.yaml', saved['params.yaml']), false);
  });

  it('replaces block collections and prunes with exact', async () => {
    await write('params.yaml', PARAMS);
    const all = (await readParams(dir, [{ file: 'params.yaml', keys: [] }]))['params.yaml'];
    await setParams(dir, 'params.yaml', ['extra=1', 'flags=[z]', 'model.depth=9']);
    await writeParamsValues(dir, 'params.yaml', all, { exact: true });
    assert.deepEqual((await readParams(dir, [{ file: 'params.yaml', keys: [] }]))['params.yaml'], all);
    assert.doesNotMatch(await read('params.yaml'), /extra/);
    assert.match(await read('params.yaml'), /# training parameters/);
  });

  it('creates a subfolder file', async () => {
    await mkdir(path.join(dir, 'a'));
    await writeParamsValues(dir, 'a/p.yaml', { 'x.y': [1, 2] });
    assert.equal(await read('a/p.yaml'), 'x:\n  y:\n    - 1\n    - 2\n');
  });
});
