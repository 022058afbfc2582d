import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Store } from '@cairn/store';
import { appendCheckpoint, createExperiment, showData, type ShowExperiment } from '@cairn/lineage';
import { LiveReport, LIVE_REPORT_FILE, lineageOf, writeLiveReport, type LiveReportEvent } from './live.js';
import type { RunEvent } from '../run.js';

async function checkpoint(store: Store, name: string, acc: number) {
  const model = Buffer.from(`model ${name} ${acc}`);
  return appendCheckpoint(store, name, {
    stage: 'train',
    cmd: 'python train.py',
    outs: { 'model.pt': { id: await store.putBuffer(model), size: model.length, kind: 'file', checkpoint: true } },
    deps: {},
    params: { 'params.yaml': { lr: acc } },
    metrics: { acc },
  });
}

describe('the live report', () => {
  let work: string;
  let storeDir: string;
  let ws: string;
  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'cairn-live-'));
    storeDir = path.join(work, 'store');
    ws = path.join(work, 'ws');
    await mkdir(ws);
    await Store.init(storeDir);
    await Store.with(storeDir, async (store) => {
      await createExperiment(store, { name: 'exp-a', baseline: { deps: {}, params: {} } });
      await checkpoint(store, 'exp-a', 0.1);
      const mid = await checkpoint(store, 'exp-a', 0.2);
      await checkpoint(store, 'exp-a', 0.3);
      await createExperiment(store, { name: 'exp-b', from: mid.id });
      await checkpoint(store, 'exp-b', 0.5);
      await createExperiment(store, { name: 'exp-c', baseline: { deps: {}, params: {} } });
      await checkpoint(store, 'exp-c', 0.9);
    });
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('shows the experiment and the history it branched from, cut at the branch point', async () => {
    const all: ShowExperiment[] = await Store.with(storeDir, (store) => showData(store));
    const shown = lineageOf(all, 'exp-b');
    assert.deepEqual(
      shown.map((e) => [e.name, e.checkpoints.map((c) => c.step)]),
      [
        ['exp-b', [2]],
        ['exp-a', [1, 0]],
      ],
    );
    assert.deepEqual(lineageOf(all, 'exp-zzz'), []);
  });

  it('writes cairn-live.html atomically in the workspace and returns its file:// URL', async () => {
    const r = await writeLiveReport(storeDir, ws, { experiment: 'exp-b' });
    assert.equal(r.path, path.join(ws, LIVE_REPORT_FILE));
    assert.equal(r.url, `file://${r.path}`);
    const html = await readFile(r.path, 'utf8');
    assert.match(html, /<meta http-equiv="refresh" content="5">/);
    assert.match(html, /data-experiment="exp-b"/);
    assert.match(html, /data-experiment="exp-a"/);
    assert.doesNotMatch(html, /data-experiment="exp-c"/);
    assert.deepEqual((await readdir(ws)).sort(), [LIVE_REPORT_FILE], 'no temp file left behind');
  });

  it('LiveReport announces the URL once, and turns a failure into one warning', async () => {
    const events: LiveReportEvent[] = [];
    // Accepts the runner's own event callback.
    const asRunEvents: (e: RunEvent) => void = (e) => events.push(e as LiveReportEvent);
    const live = new LiveReport(storeDir, ws, 'exp-c', asRunEvents);
    await live.refresh();
    await live.refresh();
    assert.deepEqual(events, [{ type: 'info', message: `file://${path.join(ws, LIVE_REPORT_FILE)}` }]);
    const broken = new LiveReport(path.join(work, 'no-store'), ws, 'exp-c', (e) => events.push(e));
    await broken.refresh();
    await broken.refresh();
    assert.equal(events.length, 2);
    assert.equal(events[1].type, 'warning');
    assert.match(events[1].message, /^cannot write the live report: /);
  });
  it("in DVC's form: DIR.html, linked after every checkpoint, and DVCLive's own report there is left alone", async () => {
    const dir = await mkdtemp(path.join(work, 'dvc-'));
    const events: LiveReportEvent[] = [];
    const live = new LiveReport(storeDir, dir, 'exp-c', (e) => events.push(e), { file: 'logs.html', announceEach: true, yieldToOthers: true });
    await live.refresh();
    await live.refresh();
    const url = `file://${path.join(dir, 'logs.html')}`;
    assert.deepEqual(events, [{ type: 'info', message: url }, { type: 'info', message: url }]);
    assert.match(await readFile(path.join(dir, 'logs.html'), 'utf8'), /data-experiment="exp-c"/, "cairn's report while none other is there");
    const theirs = '<html><body>DVCLive report</body></html>';
    await writeFile(path.join(dir, 'logs.html'), theirs);
    await live.refresh();
    assert.equal(await readFile(path.join(dir, 'logs.html'), 'utf8'), theirs);
    assert.deepEqual(events.at(-1), { type: 'info', message: url });
  });
});
