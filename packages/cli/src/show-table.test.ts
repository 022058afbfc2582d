import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShowExperiment } from '@cairn/lineage';
import { buildRows, displayWidth, formatCreated, renderCsv, renderTable } from './show-table.js';

// Created is shown in local time, as DVC did; pin the zone so the test reads the same anywhere.
process.env.TZ = 'UTC';

const NOW = new Date('2026-11-26T15:00:00Z');
const id = (c: string) => c.repeat(64);

function ckpt(c: string, step: number, parent: string | null, lr: number, created = `2026-11-26T13:2${step}:00Z`) {
  return { id: id(c), step, created, parent: parent && id(parent), metrics: { step, acc: 0.5 + step / 10 }, params: { lr }, outs: {} };
}

// exp-a: a fresh chain of 3 (lr 0.1); exp-b: `-S lr=0.3` continuing exp-a's checkpoint 1.
const expA: ShowExperiment = { name: 'exp-a', baseline: 'bbbbbbb', tip: id('3'), parent: null, checkpoints: [ckpt('3', 2, '2', 0.1), ckpt('2', 1, '1', 0.1), ckpt('1', 0, null, 0.1)] };
const expB: ShowExperiment = { name: 'exp-b', baseline: 'bbbbbbb', tip: id('5'), parent: id('2'), checkpoints: [ckpt('5', 3, '4', 0.3), ckpt('4', 2, '2', 0.3)] };
const input = {
  workspace: { params: { lr: 0.3 }, metrics: { step: 3, acc: 0.8 } },
  experiments: [expB, expA],
  baselines: { bbbbbbb: { id: id('b'), short: 'bbbbbbb', params: { lr: 0.1 } } },
};

test("rows read like DVC's: a baseline row with its params, ╓ tip, ╟, ├─╨ oldest, and a continued checkpoint in brackets on that row", () => {
  const rows = buildRows(input, { now: NOW });
  assert.deepEqual(
    rows.map((r) => r.label),
    ['workspace', 'baseline bbbbbbb', '│ ╓ 5555555 [exp-b]', '├─╨ 4444444 (2222222)', '│ ╓ 3333333 [exp-a]', '│ ╟ 2222222', '├─╨ 1111111'],
  );
  assert.deepEqual(rows[1].params, { lr: 0.1 }, "the baseline row shows the params its experiments started from");
  assert.equal(rows[1].created, '01:20 PM', 'the baseline row shows when it was first used');
  assert.equal(rows.length, 7, "the checkpoint exp-b continued is not repeated as a row of its own");
});

test('-n cuts a chain at K rows and does not close it with ╨', () => {
  const rows = buildRows(input, { now: NOW, limit: 1 });
  assert.deepEqual(rows.map((r) => r.label).slice(2), ['│ ╓ 5555555 [exp-b]', '│ ╓ 3333333 [exp-a]']);
  assert.equal(buildRows({ ...input, experiments: [{ ...expA, checkpoints: [expA.checkpoints[2]], tip: id('1') }] }, { now: NOW })[2].label, '├─╨ 1111111 [exp-a]');
});

test('Created: 01:21 PM today, a date before', () => {
  assert.equal(formatCreated('2026-11-26T13:21:04Z', NOW), '01:21 PM');
  assert.equal(formatCreated('2026-11-26T00:05:00Z', NOW), '12:05 AM');
  assert.equal(formatCreated('2026-11-26T12:00:00Z', NOW), '12:00 PM');
  assert.equal(formatCreated('2026-11-24T13:21:04Z', NOW), 'Nov 24, 2026');
  assert.equal(formatCreated('', NOW), '-');
});

test("the table has DVC's heavy header rule and aligned columns", () => {
  const text = renderTable(buildRows(input, { now: NOW }));
  const lines = text.split('\n');
  assert.match(lines[0], /^┏━+┳━+┳/);
  assert.match(lines[0], /┓$/);
  assert.match(lines[1], /^┃ Experiment +┃ Created +┃ +step ┃ +acc ┃ lr +┃$/);
  assert.match(lines[2], /^┡━+╇━+╇.*┩$/);
  assert.match(lines.at(-1)!, /^└─+┴.*┘$/);
  assert.match(lines[4], /^│ baseline bbbbbbb +│ 01:20 PM +│ +- │ +- │ 0\.1 +│$/);
  assert.match(lines[6], /^│ ├─╨ 4444444 \(2222222\) +│ 01:22 PM +│ +2 │ +0\.7 │ 0\.3 +│$/);
  const w = displayWidth(lines[0]);
  for (const l of lines) assert.equal(displayWidth(l), w, `every line as wide as the rule: ${l}`);
  assert.equal(displayWidth('\u001b[1mab\u001b[0m漢'), 4);
});

test('CSV keeps one row per checkpoint, the baseline with its params', () => {
  const csv = renderCsv(buildRows(input, { now: NOW })).trim().split('\n');
  assert.equal(csv[0], 'Experiment,rev,typ,Created,step,acc,lr');
  assert.equal(csv[2], ',bbbbbbb,baseline,01:20 PM,,,0.1');
  assert.equal(csv.length, 1 + 7);
});
