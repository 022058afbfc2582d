import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ShowCheckpoint, ShowExperiment } from '@cairn/lineage';
import { buildReportModel, escapeHtml, flattenValues, renderReport, seriesColor } from './html.js';
import { loadReportAssets } from './files.js';

let n = 0;
const hex = (i: number) => i.toString(16).padStart(64, '0');

function exp(name: string, steps: number[], metric: (s: number) => Record<string, unknown>, params: Record<string, unknown> = { lr: 0.1 }, parent: string | null = null): ShowExperiment {
  const checkpoints: ShowCheckpoint[] = steps
    .map((step) => ({ id: hex(++n), step, created: `2026-01-01T00:00:${String(step).padStart(2, '0')}Z`, parent: null, metrics: metric(step), params, outs: {} }))
    .reverse(); // newest first, as showData returns them
  return { name, baseline: 'abcdef0', tip: checkpoints[0]?.id ?? null, parent, checkpoints };
}

const ASSETS = { js: '/* uplot */', css: '/* css */' };

describe('buildReportModel', () => {
  it('makes one chart per numeric metric, one series per experiment, points per checkpoint', () => {
    const a = exp('exp-aaaaa', [0, 1, 2, 3], (s) => ({ acc: 0.5 + s / 10, loss: 1 / (s + 1), step: s, note: 'x' }));
    const b = exp('exp-bbbbb', [4, 5], (s) => ({ acc: (90 + s) / 100, val: { loss: s, step: s } }), { lr: 5 }, a.checkpoints[0].id);
    const m = buildReportModel([b, a]);
    assert.deepEqual(
      m.charts.map((c) => c.metric),
      ['acc', 'loss', 'val.loss'],
      'sorted, nested metrics dotted, `step` (only repeating the step) and strings left out',
    );
    const acc = m.charts[0];
    assert.deepEqual(acc.steps, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(
      acc.series.map((s) => [s.name, s.points]),
      [
        ['exp-bbbbb', 2],
        ['exp-aaaaa', 4],
      ],
    );
    assert.deepEqual(acc.series[1].values, [0.5, 0.6, 0.7, 0.8, null, null]);
    assert.deepEqual(acc.series[0].values, [null, null, null, null, 0.94, 0.95]);
    // An experiment without a metric has no line in its chart.
    assert.deepEqual(m.charts[1].series.map((s) => s.name), ['exp-aaaaa']);
    assert.equal(m.charts[1].series[0].color, seriesColor(1), 'an experiment keeps its colour in every chart');
    assert.deepEqual(m.charts[2].series.map((s) => s.name), ['exp-bbbbb']);
  });

  it('tabulates params, latest metrics and where each experiment started', () => {
    const a = exp('exp-aaaaa', [0, 1], (s) => ({ acc: s }), { lr: 0.1, 'train.yaml': { seed: 1 } });
    const b = exp('exp-bbbbb', [2], (s) => ({ acc: s }), { lr: 5 }, a.checkpoints[0].id);
    const m = buildReportModel([b], { all: [b, a] });
    assert.deepEqual(m.paramKeys, ['lr']);
    assert.equal(m.rows[0].from, `exp-aaaaa@${a.checkpoints[0].id.slice(0, 7)}`);
    assert.equal(m.rows[0].checkpoints, 1);
    const both = buildReportModel([b, a]);
    assert.deepEqual(both.paramKeys, ['lr', 'train.yaml.seed']);
    assert.equal(both.rows[1].firstStep, 0);
    assert.equal(both.rows[1].lastStep, 1);
    assert.deepEqual(both.rows[1].metrics, { acc: 1 });
    assert.equal(both.rows[1].from, null);
  });

  it('skips NaN and Infinity, and copes with no experiments and no metrics', () => {
    const a = exp('exp-aaaaa', [0, 1, 2], (s) => ({ loss: s === 1 ? NaN : s === 2 ? Infinity : 1 }));
    assert.equal(buildReportModel([a]).charts[0].series[0].points, 1);
    assert.deepEqual(buildReportModel([]), { charts: [], rows: [], paramKeys: [], metricKeys: [] });
    assert.equal(buildReportModel([exp('exp-ccccc', [0], () => ({}))]).charts.length, 0);
  });
});

describe('renderReport', () => {
  it('is one self-contained page: the library inline, the data as JSON, no external URL', () => {
    const a = exp('exp-aaaaa', [0, 1], (s) => ({ acc: s, step: s }));
    const html = renderReport([a], { assets: loadReportAssets() });
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /var uPlot=/);
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'nothing loaded from elsewhere');
    assert.match(html, /<table id="params">/);
    assert.match(html, /data-experiment="exp-aaaaa"/);
    const json = /<script type="application\/json" id="cairn-data">(.*?)<\/script>/s.exec(html)![1];
    assert.equal(JSON.parse(json).charts[0].series[0].points, 2);
    assert.equal(renderReport([a], { assets: ASSETS }), renderReport([a], { assets: ASSETS }), 'pure: same input, same bytes');
  });

  it('escapes what it embeds', () => {
    const a = exp('exp-aaaaa', [0], () => ({ '</script><b>': 1 }), { '<i>k': '</script>&' });
    const html = renderReport([a], { assets: { js: 'var s = "</script>";', css: '' }, title: '<t>' });
    assert.equal(html.match(/<\/script>/g)!.length, 3, 'only the three closing tags of the page');
    assert.match(html, /<title>&lt;t&gt;<\/title>/);
    assert.match(html, /&lt;i&gt;k/);
    assert.match(html, /&lt;\/script&gt;&amp;/);
  });

  it('reloads itself only when asked (the live report)', () => {
    assert.doesNotMatch(renderReport([], { assets: ASSETS }), /http-equiv="refresh"/);
    assert.match(renderReport([], { assets: ASSETS, refreshSeconds: 5 }), /<meta http-equiv="refresh" content="5">/);
    assert.match(renderReport([], { assets: ASSETS }), /No experiments yet/);
  });
});

describe('helpers', () => {
  it('flattens nested values and escapes HTML', () => {
    assert.deepEqual(flattenValues({ a: { b: 1, c: [1, 2] }, d: null }), { 'a.b': 1, 'a.c': [1, 2], d: null });
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('gives distinct colours beyond the palette', () => {
    const colors = Array.from({ length: 40 }, (_, i) => seriesColor(i));
    assert.equal(new Set(colors).size, 40);
    for (const c of colors) assert.match(c, /^#[0-9a-f]{6}$/);
  });
});
