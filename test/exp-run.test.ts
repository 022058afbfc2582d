/**
 * Black-box tests of `cairn exp run` / `exp show` against SPEC.md, with a
 * real Python training script (test/lib/workspace.ts) that loads its own
 * checkpoint out and signals through `from cairn import make_checkpoint`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, startCairn, collect } from './lib/cli.js';
import {
  HEX64,
  MODEL_BYTES,
  assertChain,
  assertMetrics,
  byStep,
  steps,
  assertNoStack,
  assertOk,
  checkpointLines,
  findExp,
  makeWorkspace,
  modelLr,
  modelStep,
  paramsYaml,
  parseYamlFile,
  runExpName,
  sha256,
  showJson,
  starts,
  storeGet,
  type ShowExperiment,
} from './lib/workspace.js';

test('exp run records one checkpoint per epoch, steps 0..N-1, and exp show --json has the SPEC shape', async () => {
  const ws = await makeWorkspace({ epochs: 3, lr: 0.1 });
  const before = Date.now();
  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r, 'exp run');
  const after = Date.now();
  const printed = checkpointLines(r.stdout);
  assert.equal(printed.length, 3, `one checkpoint line per epoch:\n${r.stdout}`);
  const name = runExpName(r.stdout);
  assert.match(name, /^exp-[0-9a-f]{5}$/);

  const show = await showJson(ws);
  assert.deepEqual(Object.keys(show).sort(), ['experiments', 'workspace']);
  assert.deepEqual(show.workspace.params, { lr: 0.1, epochs: 3, sleep: 0 });
  assertMetrics(show.workspace.metrics, 2, 0.1, 'workspace');
  assert.equal(show.experiments.length, 1);
  const e = show.experiments[0];
  for (const k of ['name', 'baseline', 'tip', 'parent', 'checkpoints']) assert.ok(k in e, `experiment has '${k}'`);
  assert.equal(e.name, name);
  assert.equal(typeof e.baseline, 'string');
  assert.match(e.baseline, /^[0-9a-f]{7}([0-9a-f]{57})?$/, 'baseline is a short (or full) ID');
  assert.equal(e.parent, null);
  assert.match(e.tip, HEX64);
  // Newest first, steps 0..N-1, printed in order (oldest first).
  assert.deepEqual(steps(e), [2, 1, 0]);
  assert.deepEqual(e.checkpoints.map((c) => c.id.slice(0, 7)).reverse(), printed);
  assertChain(e, null);

  const tipModel = await readFile(join(ws, 'model.bin'));
  let lastCreated = Infinity;
  for (const c of e.checkpoints) {
    for (const k of ['id', 'step', 'created', 'parent', 'metrics', 'params', 'outs']) assert.ok(k in c, `checkpoint has '${k}'`);
    assert.match(c.id, HEX64);
    assert.match(c.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'created is an ISO UTC time');
    const t = Date.parse(c.created);
    assert.ok(t >= before - 2000 && t <= after + 2000, `created ${c.created} is during the run`);
    assert.ok(t <= lastCreated, 'newest first');
    lastCreated = t;
    assertMetrics(c.metrics, c.step, 0.1, `checkpoint ${c.step}`);
    assert.deepEqual(c.params, { lr: 0.1, epochs: 3, sleep: 0 });
    assert.deepEqual(Object.keys(c.outs), ['model.bin']);
    assert.equal(c.outs['model.bin'].size, MODEL_BYTES);
    assert.match(c.outs['model.bin'].id, HEX64);
    // The recorded out is the model the script wrote at that step.
    const data = await storeGet(ws, c.outs['model.bin'].id);
    assert.equal(data.length, MODEL_BYTES);
    assert.equal(modelStep(data), c.step);
    assert.equal(modelLr(data), 0.1);
    if (c.id === e.tip) assert.equal(sha256(data), sha256(tipModel), 'tip out == workspace model.bin');
  }
  // Distinct models, distinct out IDs.
  assert.equal(new Set(e.checkpoints.map((c) => c.outs['model.bin'].id)).size, 3);

  // cairn.lock names the experiment and its tip.
  const lockText = await readFile(join(ws, 'cairn.lock'), 'utf8');
  assert.ok(lockText.includes(name) && lockText.includes(e.tip), `cairn.lock names ${name} and its tip:\n${lockText}`);
  const lock = (await parseYamlFile(join(ws, 'cairn.lock'))) as Record<string, unknown> | null;
  if (lock) {
    assert.equal(lock.experiment, name);
    assert.equal(lock.checkpoint, e.tip);
  }
  // The script started at step 0 with no model and not as a resume.
  const s = await starts(ws);
  assert.equal(s.length, 1);
  assert.deepEqual([s[0].cairn_step, s[0].loaded_step, s[0].resume, s[0].exp], [0, null, false, name]);
});

test('a final checkpoint is recorded only when an out changed after the last signal', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const r = await cairn(['exp', 'run'], { cwd: ws, env: { TRAIN_FINAL_WRITE: '1' } });
  assertOk(r, 'exp run');
  assert.equal(checkpointLines(r.stdout).length, 3, `2 signals + 1 final:\n${r.stdout}`);
  const e = (await showJson(ws)).experiments[0];
  assert.deepEqual(steps(e), [2, 1, 0]);
  assertChain(e, null);
  // The final checkpoint holds what the script wrote after its last signal.
  const final = await storeGet(ws, e.checkpoints[0].outs['model.bin'].id);
  assert.equal(modelStep(final), 2);
  assert.equal(sha256(final), sha256(await readFile(join(ws, 'model.bin'))));
});

test('a second exp run with nothing changed resumes the experiment; the script continues from its saved model', async () => {
  const ws = await makeWorkspace({ epochs: 3 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first exp run');
  const name = runExpName(first.stdout);
  const e1 = (await showJson(ws)).experiments[0];
  const oldTip = e1.tip;
  const tipModelSha = sha256(await storeGet(ws, e1.checkpoints[0].outs['model.bin'].id));

  const second = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(second, 'second exp run');
  assert.match(second.stdout, new RegExp(`Resuming experiment '${name}'\\.`));
  assert.match(second.stdout, /loaded model\.bin at step 2/);
  const printed = checkpointLines(second.stdout);
  assert.equal(printed.length, 3);

  const s = (await starts(ws)).at(-1)!;
  assert.equal(s.loaded_step, 2);
  assert.equal(s.cairn_step, 3, 'CAIRN_STEP is the tip step + 1');
  assert.equal(s.loaded_sha256, tipModelSha, 'the script loaded the tip checkpoint model');
  assert.equal(s.resume, true, 'CAIRN_RESUME=1');
  assert.equal(s.dvclive_resume, true, 'DVCLIVE_RESUME=1');
  assert.equal(s.exp, name, 'CAIRN_EXP_NAME');

  const show = await showJson(ws);
  assert.equal(show.experiments.length, 1, 'no new experiment');
  const e = show.experiments[0];
  assert.equal(e.name, name);
  assert.deepEqual(steps(e), [5, 4, 3, 2, 1, 0]);
  assertChain(e, null);
  assert.equal(byStep(e, 3).parent, oldTip, 'the chain grows from the old tip');
  assert.deepEqual(e.checkpoints.slice(0, 3).map((c) => c.id.slice(0, 7)).reverse(), printed);
  for (const c of e.checkpoints.slice(0, 3)) assert.equal(modelStep(await storeGet(ws, c.outs['model.bin'].id)), c.step);
});

test('exp run -S lr=0.3 branches a new experiment from the tip and keeps params.yaml layout', async () => {
  const ws = await makeWorkspace({ epochs: 3, lr: 0.1 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first exp run');
  const name1 = runExpName(first.stdout);
  const e1 = (await showJson(ws)).experiments[0];

  const r = await cairn(['exp', 'run', '-S', 'lr=0.3'], { cwd: ws });
  assertOk(r, 'exp run -S lr=0.3');
  assert.match(r.stdout, new RegExp(`Modified checkpoint experiment based on '${name1}' will be created\\.`));
  assert.equal(checkpointLines(r.stdout).length, 3);

  // params.yaml: lr changed, comments and layout kept.
  const text = await readFile(join(ws, 'params.yaml'), 'utf8');
  const want = paramsYaml({ lr: 0.3, epochs: 3 }).split('\n');
  const got = text.split('\n');
  assert.equal(got.length, want.length, `same number of lines:\n${text}`);
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith('lr:')) assert.match(got[i], /^lr: 0\.3\s+# learning rate$/, `lr line:\n${text}`);
    else assert.equal(got[i], want[i], `line ${i + 1} of params.yaml kept:\n${text}`);
  }

  const show = await showJson(ws);
  assert.equal(show.experiments.length, 2);
  const e2 = show.experiments[0];
  assert.notEqual(e2.name, name1);
  assert.equal(show.experiments[1].name, name1, 'experiments newest tip first');
  assert.equal(e2.parent, e1.tip, 'the new experiment starts from the old tip');
  assertChain(e2, e1.tip);
  assert.deepEqual(steps(e2), [5, 4, 3], 'steps continue from the parent');
  for (const c of e2.checkpoints) {
    assert.equal(c.params.lr, 0.3);
    assertMetrics(c.metrics, c.step, 0.3, `${e2.name} step ${c.step}`);
  }
  assert.deepEqual(show.workspace.params, { lr: 0.3, epochs: 3, sleep: 0 });
  // The old experiment is untouched.
  assert.deepEqual(findExp(show, name1), e1);
  // The checkpoint out was left in place: the script loaded the old tip's model.
  const s = (await starts(ws)).at(-1)!;
  assert.deepEqual([s.loaded_step, s.cairn_step, s.exp], [2, 3, e2.name]);
});

test('exp run --rev <mid-chain checkpoint> restores its out bit for bit and branches from it', async () => {
  const ws = await makeWorkspace({ epochs: 3 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first exp run');
  const name1 = runExpName(first.stdout);
  const e1 = (await showJson(ws)).experiments[0];
  const mid = byStep(e1, 1);
  const midModel = await storeGet(ws, mid.outs['model.bin'].id);
  assert.notEqual(sha256(midModel), sha256(await readFile(join(ws, 'model.bin'))), 'the workspace holds another model before --rev');

  const r = await cairn(['exp', 'run', '--rev', mid.id.slice(0, 7)], { cwd: ws });
  assertOk(r, 'exp run --rev');
  assert.equal(checkpointLines(r.stdout).length, 3);
  const s = (await starts(ws)).at(-1)!;
  assert.equal(s.loaded_step, 1, 'the script loaded the restored model');
  assert.equal(s.loaded_sha256, sha256(midModel), 'restored bit for bit before the script ran');
  assert.equal(s.cairn_step, 2);
  assert.equal(s.resume, false);

  const show = await showJson(ws);
  assert.equal(show.experiments.length, 2);
  const e2 = show.experiments.find((x) => x.name !== name1)!;
  assert.equal(s.exp, e2.name);
  assert.equal(e2.parent, mid.id, 'the new experiment starts from the --rev checkpoint');
  assertChain(e2, mid.id);
  assert.deepEqual(steps(e2), [4, 3, 2]);
  assert.deepEqual(findExp(show, name1), e1, 'the old experiment is untouched');
});

test('exp run --reset deletes the checkpoint out and starts a fresh experiment at step 0', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first exp run');
  const name1 = runExpName(first.stdout);

  const r = await cairn(['exp', 'run', '--reset'], { cwd: ws });
  assertOk(r, 'exp run --reset');
  assert.doesNotMatch(r.stdout, /Resuming/);
  const s = (await starts(ws)).at(-1)!;
  assert.equal(s.loaded_step, null, 'model.bin was deleted before the script ran');
  assert.equal(s.cairn_step, 0);
  assert.equal(s.resume, false);

  const show = await showJson(ws);
  assert.equal(show.experiments.length, 2);
  const e2 = show.experiments.find((x) => x.name !== name1)!;
  assert.equal(e2.name, s.exp);
  assert.equal(e2.parent, null);
  assertChain(e2, null);
  assert.deepEqual(steps(e2), [1, 0]);
  assert.deepEqual(steps(findExp(show, name1)), [1, 0]);
});

/** Starts `exp run`, waits for `n` checkpoint lines, sends `signal`, returns the result. */
async function interruptAfter(ws: string, n: number, signal: NodeJS.Signals, args: string[] = []) {
  const child = startCairn(['exp', 'run', ...args], { cwd: ws, env: { CAIRN_KILL_GRACE: '2' } });
  let seen = '';
  let sent = false;
  child.stdout!.on('data', (d) => {
    seen += d;
    if (!sent && checkpointLines(seen).length >= n) {
      sent = true;
      child.kill(signal);
    }
  });
  const started = Date.now();
  const r = await collect(child);
  assert.ok(sent, `never saw ${n} checkpoints:\n${r.stdout}\n${r.stderr}`);
  return { ...r, ms: Date.now() - started };
}

test('SIGINT or SIGTERM to exp run: exit 130, every printed checkpoint kept, lock valid, next run resumes', async () => {
  const ws = await makeWorkspace({ epochs: 30, sleep: 0.3 });
  const r = await interruptAfter(ws, 2, 'SIGINT');
  assert.equal(r.code, 130, `exit 130 on SIGINT:\n${r.stdout}\n${r.stderr}`);
  assertNoStack(r.stderr);
  const printed = checkpointLines(r.stdout);
  assert.ok(printed.length >= 2);
  const name = runExpName(r.stdout);

  let show = await showJson(ws);
  let e = findExp(show, name);
  assert.deepEqual(e.checkpoints.map((c) => c.id.slice(0, 7)).reverse(), printed, 'exactly the printed checkpoints are recorded');
  assertChain(e, null);
  const lastStep = e.checkpoints[0].step;
  assert.equal(lastStep, printed.length - 1);
  const lock = (await parseYamlFile(join(ws, 'cairn.lock'))) as Record<string, unknown> | null;
  if (lock) assert.deepEqual([lock.experiment, lock.checkpoint], [name, e.tip], 'cairn.lock parses and names the tip');

  // The next run resumes from the last checkpoint (one checkpoint is enough).
  const tipBefore = e.tip;
  const resumed = await cairn(['exp', 'run', '--max-checkpoints', '1'], { cwd: ws, env: { CAIRN_KILL_GRACE: '2' } });
  assertOk(resumed, 'exp run after SIGINT');
  assert.match(resumed.stdout, new RegExp(`Resuming experiment '${name}'\\.`));
  const s = (await starts(ws)).at(-1)!;
  assert.deepEqual([s.loaded_step, s.cairn_step], [lastStep, lastStep + 1]);
  show = await showJson(ws);
  e = findExp(show, name);
  assert.equal(e.checkpoints[0].step, lastStep + 1);
  assert.equal(e.checkpoints[0].parent, tipBefore);

  // SIGTERM: the same.
  const t = await interruptAfter(ws, 1, 'SIGTERM');
  assert.equal(t.code, 130, `exit 130 on SIGTERM:\n${t.stdout}\n${t.stderr}`);
  assertNoStack(t.stderr);
  const printedT = checkpointLines(t.stdout);
  e = findExp(await showJson(ws), name);
  assert.deepEqual(e.checkpoints.slice(0, printedT.length).map((c) => c.id.slice(0, 7)).reverse(), printedT);
  assertChain(e, null);
  assert.equal(e.checkpoints[0].step, lastStep + 1 + printedT.length);
  // It stopped the script rather than waiting for it: of its 30 epochs, only
  // the few before the signal (and the grace period) were recorded. (Counted,
  // not timed: a loaded machine stretches every duration.)
  assert.ok(printedT.length < 10, `the script was stopped, not run to the end (${printedT.length} checkpoints)`);
});

test('exp show --json from another process during a run always succeeds, and the run completes', async () => {
  const ws = await makeWorkspace({ epochs: 10, sleep: 0.15 });
  const child = startCairn(['exp', 'run'], { cwd: ws });
  const run = collect(child);
  let finished = false;
  void run.then(() => (finished = true));
  let reads = 0;
  let seen = 0;
  while (!finished) {
    const r = await cairn(['exp', 'show', '--json'], { cwd: ws });
    assert.equal(r.code, 0, `exp show --json during the run: ${r.stderr}`);
    const show = JSON.parse(r.stdout) as { experiments: ShowExperiment[] };
    const n = show.experiments[0]?.checkpoints.length ?? 0;
    assert.ok(n >= seen, 'checkpoints never disappear');
    seen = n;
    if (n > 0) assertChain(show.experiments[0], null);
    reads++;
  }
  const result = await run;
  assertOk(result, 'exp run');
  assert.equal(checkpointLines(result.stdout).length, 10);
  assert.ok(reads >= 2, `exp show ran ${reads} times during the run`);
  assert.deepEqual(steps((await showJson(ws)).experiments[0]), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
});

test('--max-checkpoints 2 on a 10-epoch script: exactly 2 new checkpoints, exit 0', async () => {
  const ws = await makeWorkspace({ epochs: 10 });
  const r = await cairn(['exp', 'run', '--max-checkpoints', '2'], { cwd: ws, env: { CAIRN_KILL_GRACE: '2' } });
  assertOk(r, 'exp run --max-checkpoints 2');
  assert.equal(checkpointLines(r.stdout).length, 2, r.stdout);
  const e = (await showJson(ws)).experiments[0];
  assert.deepEqual(steps(e), [1, 0]);
  assertChain(e, null);
});

test('exp show as a table, --csv, --md, -n and --sort-by', async () => {
  const ws = await makeWorkspace({ epochs: 3, lr: 0.1 });
  const a = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(a, 'exp run');
  const b = await cairn(['exp', 'run', '-S', 'lr=0.3'], { cwd: ws });
  assertOk(b, 'exp run -S lr=0.3');
  const show = await showJson(ws);
  const [e2, e1] = show.experiments; // newest tip first: e2 branched from e1
  assert.equal(e2.parent, e1.tip);

  // Table.
  const t = await cairn(['exp', 'show', '--no-pager'], { cwd: ws });
  assertOk(t, 'exp show');
  const lines = t.stdout.split('\n');
  assert.ok(lines.some((l) => /\bworkspace\b/.test(l)), 'a workspace row');
  assert.ok(lines.some((l) => /Created/.test(l)), 'a Created column');
  for (const e of [e1, e2]) {
    const tipRow = lines.find((l) => l.includes(`[${e.name}]`));
    assert.ok(tipRow, `a row naming [${e.name}]`);
    assert.ok(tipRow.includes('╓') && tipRow.includes(e.tip.slice(0, 7)), `╓ tip [name] row: ${tipRow}`);
    for (const c of e.checkpoints) assert.ok(lines.some((l) => l.includes(c.id.slice(0, 7))), `row for ${c.id.slice(0, 7)}`);
  }
  assert.ok(lines.some((l) => l.includes('├─╨') && l.includes(e1.checkpoints.at(-1)!.id.slice(0, 7))), '├─╨ row for the oldest checkpoint');
  // As DVC showed it: e2's oldest checkpoint names the checkpoint of e1 it continued, on its own row.
  const e2Oldest = e2.checkpoints.at(-1)!.id.slice(0, 7);
  assert.ok(lines.some((l) => l.includes(`├─╨ ${e2Oldest} (${e1.tip.slice(0, 7)})`)), `├─╨ ${e2Oldest} (${e1.tip.slice(0, 7)}) row:\n${t.stdout}`);
  assert.equal(lines.filter((l) => l.includes(e1.tip.slice(0, 7))).length, 2, 'e1 tip: its own row and the bracket, no extra row');
  assert.match(lines[0], /^┏━+┳/, "DVC's heavy header rule");
  assert.ok(lines.some((l) => /^┡━+╇/.test(l)), "DVC's heavy rule under the header");
  assert.ok(lines.some((l) => /│ baseline [0-9a-f]{7} .*│ 0\.1 /.test(l)), `a baseline row with its params (lr 0.1):\n${t.stdout}`);
  assert.ok(lines.some((l) => /\b\d\d:\d\d [AP]M\b/.test(l)), 'Created as 01:21 PM today');

  // CSV: a header and one row per line, same number of fields.
  const csv = await cairn(['exp', 'show', '--csv'], { cwd: ws });
  assertOk(csv, 'exp show --csv');
  const rows = parseCsv(csv.stdout);
  const header = rows[0];
  for (const col of ['acc', 'loss', 'lr']) assert.ok(header.includes(col), `CSV column ${col}: ${header.join(',')}`);
  for (const r of rows) assert.equal(r.length, header.length, `CSV row has ${header.length} fields: ${r.join(',')}`);
  const accCol = header.indexOf('acc');
  for (const e of [e1, e2]) {
    for (const c of e.checkpoints) {
      const row = rows.find((r) => r.some((f) => f === c.id || f === c.id.slice(0, 7) || f.includes(c.id.slice(0, 7))));
      assert.ok(row, `CSV row for ${c.id.slice(0, 7)}`);
      assert.ok(Math.abs(Number(row[accCol]) - (c.metrics.acc as number)) < 1e-4, `CSV acc of ${c.id.slice(0, 7)}`);
    }
  }

  // Markdown: a pipe table with a separator line.
  const md = await cairn(['exp', 'show', '--md'], { cwd: ws });
  assertOk(md, 'exp show --md');
  const mdLines = md.stdout.trim().split('\n');
  assert.ok(mdLines.every((l) => l.startsWith('|') && l.endsWith('|')), `every line is a table row:\n${md.stdout}`);
  assert.match(mdLines[1], /^\|(\s*:?-{3,}:?\s*\|)+$/, 'separator line');
  const cells = (l: string) => l.split('|').length;
  assert.ok(mdLines.every((l) => cells(l) === cells(mdLines[0])), 'same number of cells per row');
  assert.ok(md.stdout.includes(`[${e1.name}]`) && md.stdout.includes(`[${e2.name}]`));

  // -n 2: at most 2 checkpoints per experiment.
  const n2 = parseCsv((await cairn(['exp', 'show', '--csv', '-n', '2'], { cwd: ws })).stdout);
  for (const e of [e1, e2]) {
    const shownIds = e.checkpoints.filter((c) => n2.some((r) => r.some((f) => f.includes(c.id.slice(0, 7)) && r.includes(e.name))));
    assert.deepEqual(shownIds.map((c) => c.step), steps(e).slice(0, 2), `-n 2 shows the 2 newest of ${e.name}`);
  }
  const n2t = (await cairn(['exp', 'show', '--no-pager', '-n', '2'], { cwd: ws })).stdout;
  for (const c of e1.checkpoints.slice(2)) assert.ok(!n2t.includes(c.id.slice(0, 7)), `-n 2 hides ${c.id.slice(0, 7)}`);

  // --sort-by acc: e1's tip has the lower acc, so it comes first (ascending);
  // the default order is newest tip first (e2).
  assert.ok((e1.checkpoints[0].metrics.acc as number) < (e2.checkpoints[0].metrics.acc as number));
  const order = (out: string) => out.indexOf(`[${e1.name}]`) < out.indexOf(`[${e2.name}]`) ? 'e1,e2' : 'e2,e1';
  assert.equal(order(t.stdout), 'e2,e1');
  const sorted = await cairn(['exp', 'show', '--no-pager', '--sort-by', 'acc'], { cwd: ws });
  assertOk(sorted, 'exp show --sort-by acc');
  assert.equal(order(sorted.stdout), 'e1,e2');
  const sortedDesc = await cairn(['exp', 'show', '--no-pager', '--sort-by', 'acc', '--sort-order', 'desc'], { cwd: ws });
  assert.equal(order(sortedDesc.stdout), 'e2,e1');
});

/** A small RFC 4180 parser: quoted fields, doubled quotes, commas and newlines in quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  assert.ok(!quoted, 'CSV: unterminated quote');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
