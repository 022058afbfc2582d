/**
 * DVC 2.x's "Getting Started: Checkpoints" page, followed as printed: its
 * dvc.yaml byte for byte (with `live: {logs: {summary: true, html: true}}`)
 * and a training script that logs with DVCLive and checkpoints through
 * DVCLive's next_step(). DVCLive itself is the stand-in in
 * fixtures/dvc-page/dvclive, which reads its settings from the environment
 * exactly as DVCLive 0.x did, so a wrong or missing DVCLIVE_* value shows
 * up as missing metrics or a wrong step here.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { cairn, tempDir } from './lib/cli.js';
import { assertOk, checkpointLines, showJson, steps } from './lib/workspace.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/dvc-page/', import.meta.url));

/** The page's dvc.yaml as printed on it. */
const PAGE_DVC_YAML = `stages:
  train:
    cmd: python train.py
    deps:
      - train.py
    outs:
      - model.pt:
          checkpoint: true
    live:
      logs:
        summary: true
        html: true
`;

/** The page says `python`; some machines have only `python3`. */
async function pythonShim(): Promise<string> {
  const bin = await tempDir('cairn-pybin-');
  await writeFile(join(bin, 'python'), '#!/bin/sh\nexec python3 "$@"\n');
  await chmod(join(bin, 'python'), 0o755);
  return bin;
}

async function pageWorkspace(): Promise<string> {
  const ws = await tempDir('cairn-dvc-page-');
  await copyFile(join(FIXTURE, 'dvc.yaml'), join(ws, 'dvc.yaml'));
  await copyFile(join(FIXTURE, 'train.py'), join(ws, 'train.py'));
  await mkdir(join(ws, 'dvclive'));
  await cp(join(FIXTURE, 'dvclive', '__init__.py'), join(ws, 'dvclive', '__init__.py'));
  assertOk(await cairn(['init'], { cwd: ws }), 'cairn init');
  return ws;
}

/** The file:// links printed, as paths. */
function links(stdout: string): string[] {
  return [...stdout.matchAll(/^file:\/\/(\S+)$/gm)].map((m) => fileURLToPath(`file://${m[1]}`));
}

test("the checkpoint page's dvc.yaml, unchanged, with DVCLive: step and acc per checkpoint, a resume that goes on from step 10, a live report link", async () => {
  assert.equal(await readFile(join(FIXTURE, 'dvc.yaml'), 'utf8'), PAGE_DVC_YAML, 'the fixture is the page dvc.yaml byte for byte');
  const ws = await pageWorkspace();
  const env = { PATH: `${await pythonShim()}:${process.env.PATH}` };

  const first = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(first, 'exp run');
  assert.doesNotMatch(first.stderr, /ignoring keys/, 'the live section is acted on, not ignored');
  assert.equal(checkpointLines(first.stdout).length, 10, first.stdout);

  // DVC printed the report's address after each checkpoint; it must lead to a page.
  const printed = links(first.stdout);
  assert.ok(printed.length >= 10, `a file:// link after each checkpoint:\n${first.stdout}`);
  assert.equal(printed[0], join(ws, 'logs.html'));
  const html = await readFile(printed[0], 'utf8');
  assert.match(html, /^<!doctype html>/i);
  assert.ok((await stat(printed[0])).size > 1000);

  const e1 = (await showJson(ws, env)).experiments;
  assert.equal(e1.length, 1);
  assert.deepEqual(steps(e1[0]), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  for (const c of e1[0].checkpoints) {
    assert.deepEqual(Object.keys(c.metrics).sort(), ['acc', 'step'], `metrics of step ${c.step}`);
    assert.equal(c.metrics.step, c.step, "DVCLive's step is the checkpoint's step");
    assert.equal(typeof c.metrics.acc, 'number');
  }
  assert.ok((e1[0].checkpoints[0].metrics.acc as number) > (e1[0].checkpoints[9].metrics.acc as number), 'acc grows while training');

  const table = await cairn(['exp', 'show', '--no-pager'], { cwd: ws, env });
  assertOk(table, 'exp show');
  const header = table.stdout.split('\n').find((l) => l.includes('Experiment'))!;
  assert.match(header, /\bCreated\b.*\bstep\b.*\bacc\b/, `step and acc columns:\n${table.stdout}`);

  const second = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(second, 'second exp run');
  assert.match(second.stdout, /^Resuming experiment '/m);
  assert.equal(checkpointLines(second.stdout).length, 10, second.stdout);
  const e2 = (await showJson(ws, env)).experiments;
  assert.equal(e2.length, 1, 'the same experiment grew');
  assert.deepEqual(steps(e2[0]).slice(0, 10), [19, 18, 17, 16, 15, 14, 13, 12, 11, 10]);
  for (const c of e2[0].checkpoints) assert.equal(c.metrics.step, c.step, `metrics step of checkpoint ${c.step}`);
  // DVCLive kept its history across the resume rather than starting over.
  const history = (await readFile(join(ws, 'logs', 'acc.tsv'), 'utf8')).trim().split('\n');
  assert.equal(history.length, 1 + 20);
});

test("exp apply of a mid checkpoint brings back DVCLive's summary, so the next run's DVCLive goes on from that checkpoint's step", async () => {
  const ws = await pageWorkspace();
  const env = { PATH: `${await pythonShim()}:${process.env.PATH}` };
  assertOk(await cairn(['exp', 'run', '--name', 'page'], { cwd: ws, env }), 'exp run');
  const mid = (await showJson(ws, env)).experiments[0].checkpoints.find((c) => c.step === 4)!;

  assertOk(await cairn(['exp', 'apply', mid.id.slice(0, 7)], { cwd: ws, env }), 'exp apply');
  assert.deepEqual(JSON.parse(await readFile(join(ws, 'logs.json'), 'utf8')), mid.metrics, 'logs.json is the summary recorded at step 4');
  assert.deepEqual((await showJson(ws, env)).workspace.metrics, mid.metrics, 'the workspace row shows step 4');

  const next = await cairn(['exp', 'run', '--name', 'from-mid', '--max-checkpoints', '3'], { cwd: ws, env });
  assertOk(next, 'exp run after apply');
  const e = (await showJson(ws, env)).experiments.find((x) => x.name === 'from-mid')!;
  assert.equal(e.parent, mid.id);
  assert.deepEqual(steps(e), [7, 6, 5]);
  for (const c of e.checkpoints) assert.equal(c.metrics.step, c.step, `DVCLive's step is the checkpoint's step at ${c.step}`);
});
