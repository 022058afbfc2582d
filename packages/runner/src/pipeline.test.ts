import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CairnError } from './errors.js';
import { loadPipeline, parsePipeline, selectStage } from './pipeline.js';
import type { Pipeline } from './pipeline.js';

const SPEC_EXAMPLE = `stages:
  train:
    cmd: python train.py
    deps: [train.py, data/]
    params: [lr, epochs]          # keys of params.yaml ("file.yaml:" form too)
    outs:
      - model.pt:
          checkpoint: true        # recorded at every checkpoint, never deleted before a run
      - logs/                     # plain out: recorded at the end of the run
    metrics:
      - metrics.json:
          cache: false            # JSON or YAML; read at every checkpoint
    live:                         # optional: an HTML report refreshed at every checkpoint
      html: true
`;

function parseErr(text: string, fname = 'cairn.yaml'): CairnError {
  try {
    parsePipeline(text, fname);
  } catch (err) {
    assert.ok(err instanceof CairnError, `expected CairnError, got ${err}`);
    assert.equal(err.code, 'BAD_INPUT');
    return err;
  }
  assert.fail('expected an error');
}

describe('parsePipeline', () => {
  it("reads the SPEC's example", () => {
    const p = parsePipeline(SPEC_EXAMPLE, 'cairn.yaml');
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(p.stages.train, {
      name: 'train',
      cmd: 'python train.py',
      deps: ['train.py', 'data'],
      params: [{ file: 'params.yaml', keys: ['lr', 'epochs'] }],
      outs: [
        { path: 'model.pt', checkpoint: true, cache: true, persist: false },
        { path: 'logs', checkpoint: false, cache: true, persist: false },
      ],
      metrics: [{ path: 'metrics.json', cache: false }],
      live: { html: true },
    });
  });

  it('joins a list cmd and applies wdir to every path', () => {
    const p = parsePipeline(
      `stages:
  train:
    wdir: sub
    cmd:
      - python prep.py
      - python train.py
    deps: [train.py, ../shared/lib.py]
    params:
      - lr
      - params.yaml: [epochs, lr]
      - ../conf/other.yaml:
      - model.yaml: [model.depth]
    outs: [model.pt]
`,
      'cairn.yaml',
    );
    const s = p.stages.train;
    assert.equal(s.cmd, 'python prep.py && python train.py');
    assert.equal(s.wdir, 'sub');
    assert.deepEqual(s.deps, ['sub/train.py', 'shared/lib.py']);
    assert.deepEqual(s.params, [
      { file: 'sub/params.yaml', keys: ['lr', 'epochs'] },
      { file: 'conf/other.yaml', keys: [] },
      { file: 'sub/model.yaml', keys: ['model.depth'] },
    ]);
    assert.deepEqual(s.outs, [{ path: 'sub/model.pt', checkpoint: false, cache: true, persist: false }]);
  });

  it('names file, line and key for a typo, with a suggestion', () => {
    const text = `stages:
  train:
    cmd: python train.py
    deps:
      - train.py

    cmdd: oops
`;
    const err = parseErr(text);
    assert.equal(err.message, "cairn.yaml:7: unknown key 'cmdd' in stage 'train'");
    assert.equal(err.hint, "did you mean 'cmd'?");
  });

  it('rejects typos in out flags and wrong flag types', () => {
    const e1 = parseErr(`stages:\n  t:\n    cmd: x\n    outs:\n      - model.pt:\n          checkpont: true\n`);
    assert.match(e1.message, /^cairn\.yaml:6: unknown key 'checkpont' for 'model\.pt' in 'outs' in stage 't'$/);
    assert.equal(e1.hint, "did you mean 'checkpoint'?");
    const e2 = parseErr(`stages:\n  t:\n    cmd: x\n    outs:\n      - model.pt:\n          checkpoint: yes please\n`);
    assert.match(e2.message, /^cairn\.yaml:6: 'checkpoint' .* must be true or false$/);
  });

  it('rejects a missing cmd', () => {
    const err = parseErr(`stages:\n  train:\n    deps: [a]\n`);
    assert.equal(err.message, "cairn.yaml:2: stage 'train' has no 'cmd'");
  });

  it('rejects an out that is also a dep, and overlaps', () => {
    assert.equal(
      parseErr(`stages:\n  t:\n    cmd: x\n    deps: [model.pt]\n    outs:\n      - model.pt\n`).message,
      "cairn.yaml:6: out 'model.pt' is also a dep in stage 't'",
    );
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    deps: [src]\n    outs: [src/model.pt]\n`).message, /out 'src\/model\.pt' is inside dep 'src'/);
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    params: [lr]\n    outs: [params.yaml]\n`).message, /out 'params\.yaml' is also a dep/);
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    outs: [m]\n    metrics: [m/acc.json]\n`).message, /outs 'm' and 'm\/acc\.json' overlap/);
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    outs: [.cairn/x]\n`).message, /one of cairn's or DVC's own files/);
  });

  it('rejects paths that leave the workspace', () => {
    assert.equal(
      parseErr(`stages:\n  t:\n    cmd: x\n    deps:\n      - /etc/passwd\n`).message,
      "cairn.yaml:5: path '/etc/passwd' in 'deps' in stage 't' is absolute; paths must stay inside the workspace",
    );
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    outs: [../model.pt]\n`).message, /^cairn\.yaml:4: path '\.\.\/model\.pt' in 'outs' in stage 't' leaves the workspace$/);
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    wdir: ..\n`).message, /^cairn\.yaml:4: .*leaves the workspace/);
    assert.match(parseErr(`stages:\n  t:\n    wdir: sub\n    cmd: x\n    outs: [../../m]\n`).message, /leaves the workspace/);
  });

  it('reports malformed YAML with the parser line', () => {
    const err = parseErr(`stages:\n  t:\n    cmd: x\n    deps: [a, b\n    outs: [c]\n`);
    assert.match(err.message, /^cairn\.yaml:\d+: malformed YAML: /);
    const dup = parseErr(`stages:\n  t:\n    cmd: x\n    cmd: y\n`);
    assert.match(dup.message, /^cairn\.yaml:4: malformed YAML: Map keys must be unique/);
  });

  it('rejects a file with no stages', () => {
    assert.equal(parseErr('').message, 'cairn.yaml:1: no stages');
    assert.equal(parseErr('# nothing\n').message, 'cairn.yaml:1: no stages');
    assert.equal(parseErr('stages: {}\n').message, 'cairn.yaml:1: no stages');
    assert.equal(parseErr('vars: []\n').message, 'cairn.yaml:1: no stages');
    assert.match(parseErr('stagse:\n  t:\n    cmd: x\n').message, /^cairn\.yaml:1: unknown key 'stagse' at the top level$/);
  });

  it('warns once about DVC keys it does not act on', () => {
    const p = parsePipeline(
      `vars:
  - params.yaml
stages:
  train:
    cmd: python train.py
    desc: trains
    meta: {owner: me}
    frozen: false
    always_changed: false
    outs:
      - model.pt:
          checkpoint: true
          desc: the model
          remote: s3
    plots:
      - loss.csv:
          x: step
          y: loss
`,
      'dvc.yaml',
    );
    assert.deepEqual(p.warnings, ['dvc.yaml: ignoring keys cairn does not act on: always_changed, desc, frozen, meta, plots, remote, vars']);
    assert.equal(p.stages.train.outs[0].checkpoint, true);
  });

  it("reads DVC 2.x's live forms", () => {
    const a = parsePipeline(`stages:\n  t:\n    cmd: x\n    live:\n      logs:\n        summary: true\n        html: false\n`, 'dvc.yaml');
    assert.deepEqual(a.stages.t.live, { html: false, summary: true, dir: 'logs' });
    const b = parsePipeline(`stages:\n  t:\n    cmd: x\n    live: training_logs\n`, 'dvc.yaml');
    assert.deepEqual(b.stages.t.live, { html: true, summary: true, dir: 'training_logs' });
    assert.match(parseErr(`stages:\n  t:\n    cmd: x\n    live:\n      htlm: true\n`).message, /unknown key 'htlm' in 'live'/);
    const c = parsePipeline(`stages:\n  t:\n    cmd: x\n    live:\n      logs:\n        summary: false\n`, 'dvc.yaml');
    assert.deepEqual(c.stages.t.live, { html: true, summary: false, dir: 'logs' });
    assert.deepEqual(c.stages.t.metrics, [], 'no summary, no summary metrics file');
  });

  it("acts on the DVC checkpoint page's live section: no warning, the summary is a metrics file", () => {
    const page = 'stages:\n  train:\n    cmd: python train.py\n    deps:\n      - train.py\n    outs:\n      - model.pt:\n          checkpoint: true\n    live:\n      logs:\n        summary: true\n        html: true\n';
    const p = parsePipeline(page, 'dvc.yaml');
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(p.stages.train.live, { html: true, summary: true, dir: 'logs' });
    assert.deepEqual(p.stages.train.metrics, [{ path: 'logs.json', cache: false }]);
    const w = parsePipeline(page.replace('cmd: python train.py', 'cmd: python train.py\n    wdir: sub'), 'dvc.yaml');
    assert.deepEqual(w.stages.train.metrics, [{ path: 'sub/logs.json', cache: false }]);
    assert.match(parseErr(page.replace('      - train.py', '      - logs.json')).message, /out 'logs.json' is also a dep/);
  });

  it('follows YAML anchors, aliases and merge keys', () => {
    const p = parsePipeline(
      `stages:
  a: &base
    cmd: python a.py
    deps: &deps [src]
    outs:
      - a.pt
  b:
    <<: *base
    cmd: python b.py
    deps: *deps
    outs: [b.pt]
`,
      'dvc.yaml',
    );
    assert.equal(p.stages.b.cmd, 'python b.py');
    assert.deepEqual(p.stages.b.deps, ['src']);
    assert.deepEqual(p.stages.b.outs.map((o) => o.path), ['b.pt']);
    assert.match(parseErr('a: &a [*a]\nstages: {}\n').message, /too many or too deeply nested YAML aliases/);
  });

  it('refuses template stages clearly', () => {
    const err = parseErr(`stages:\n  build:\n    foreach: [a, b]\n    do:\n      cmd: echo \${item}\n`, 'dvc.yaml');
    assert.match(err.message, /^dvc\.yaml:3: 'foreach' in stage 'build': template stages are not supported/);
  });
});

describe('loadPipeline', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-pipeline-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers cairn.yaml, falls back to dvc.yaml, else NOT_FOUND', async () => {
    await assert.rejects(loadPipeline(dir), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND');
    await writeFile(path.join(dir, 'dvc.yaml'), 'stages:\n  dvc:\n    cmd: echo dvc\n');
    let p = await loadPipeline(dir);
    assert.equal(p.file, path.join(dir, 'dvc.yaml'));
    assert.deepEqual(Object.keys(p.stages), ['dvc']);
    await writeFile(path.join(dir, 'cairn.yaml'), 'stages:\n  cairn:\n    cmd: echo cairn\n');
    p = await loadPipeline(dir);
    assert.equal(p.file, path.join(dir, 'cairn.yaml'));
    assert.deepEqual(Object.keys(p.stages), ['cairn']);
  });
});

describe('selectStage', () => {
  const mk = (stages: Record<string, boolean>): Pipeline => ({
    file: '/w/cairn.yaml',
    warnings: [],
    stages: Object.fromEntries(
      Object.entries(stages).map(([name, ck]) => [
        name,
        { name, cmd: 'x', deps: [], params: [], metrics: [], outs: ck ? [{ path: `${name}.pt`, checkpoint: true, cache: true, persist: false }] : [] },
      ]),
    ),
  });

  it('picks the named, the only, or the checkpointing stage', () => {
    assert.equal(selectStage(mk({ a: false })).name, 'a');
    assert.equal(selectStage(mk({ prep: false, train: true })).name, 'train');
    assert.equal(selectStage(mk({ prep: false, train: true }), 'prep').name, 'prep');
  });

  it('lists the stages when it cannot choose', () => {
    assert.throws(() => selectStage(mk({ a: false, b: false })), /several stages: a, b; name the stage to run/);
    assert.throws(() => selectStage(mk({ a: true, b: true })), /several stages with checkpoint outs: a, b/);
    assert.throws(
      () => selectStage(mk({ a: true, b: true }), 'c'),
      (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND' && /no stage 'c' in cairn\.yaml \(stages: a, b\)/.test(e.message),
    );
  });
});
