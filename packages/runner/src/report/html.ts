/**
 * The HTML report of `cairn exp plots` and of `live: {html: true}`: one
 * self-contained page (uPlot inlined, no network at view time) with one
 * chart per metric (every metric against step, one line per experiment) and
 * a table of each experiment's params and latest metrics.
 *
 * Everything here is pure: data in, model or HTML string out. Reading the
 * store and writing the file live in live.ts and files.ts.
 */
import type { ShowExperiment } from '@cairn/lineage';

/** The chart library's code and style, inlined into the page. */
export interface ReportAssets {
  js: string;
  css: string;
}

export interface ReportSeries {
  /** The experiment's name (the legend label). */
  name: string;
  color: string;
  /** One value per entry of the chart's `steps`; null where the experiment has no value at that step. */
  values: (number | null)[];
  /** How many non-null values: the points drawn. */
  points: number;
}

export interface ReportChart {
  /** Dotted path of the metric (`val.loss` for `{"val": {"loss": ...}}`). */
  metric: string;
  /** Every step any experiment has a value of this metric at, ascending. */
  steps: number[];
  series: ReportSeries[];
}

export interface ReportRow {
  name: string;
  color: string;
  checkpoints: number;
  firstStep: number | null;
  lastStep: number | null;
  tip: string | null;
  /** `exp-name@abc1234` (or just the short ID) of the checkpoint it started from, or null. */
  from: string | null;
  created: string | null;
  params: Record<string, unknown>;
  /** The tip's metrics, flattened. */
  metrics: Record<string, unknown>;
}

export interface ReportModel {
  charts: ReportChart[];
  rows: ReportRow[];
  paramKeys: string[];
  metricKeys: string[];
}

export interface ModelOptions {
  /**
   * Every experiment of the store, to name the experiment a selected one
   * started from even when that one is not selected (default: the selection).
   */
  all?: ShowExperiment[];
}

export interface RenderOptions {
  assets: ReportAssets;
  /** The page's title and heading (default "cairn experiments"). */
  title?: string;
  /** A line under the heading, e.g. where the data came from. */
  subtitle?: string;
  /** When the page was made (ISO time); left out of the page when absent, so output is reproducible. */
  generated?: string;
  /** Reload the page every N seconds (the live report, as DVC's). */
  refreshSeconds?: number;
  /** Passed to buildReportModel. */
  all?: ShowExperiment[];
}

// Tableau 10: distinct, readable on white, friendly to the common colour-blindnesses.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** The colour of the i-th experiment: the palette, then golden-angle hues. */
export function seriesColor(i: number): string {
  if (i < PALETTE.length) return PALETTE[i];
  const hue = Math.round((i * 137.508) % 360);
  return hslToHex(hue, 0.62, 0.45);
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/** `{"a": {"b": 1}}` → `{"a.b": 1}`; arrays and scalars are leaves. */
export function flattenValues(obj: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flattenValues(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
  return out;
}

const isPlottable = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The charts and the table for these experiments, in the order given (for
 * `showData`'s output: newest tip first). A chart per metric that has a
 * numeric value at some checkpoint, except a `step` metric that only
 * repeats the checkpoint's step (DVCLive writes one into its metrics file).
 */
export function buildReportModel(experiments: ShowExperiment[], opts: ModelOptions = {}): ReportModel {
  const all = opts.all ?? experiments;
  const owner = new Map<string, { exp: string; step: number }>();
  for (const e of all) for (const c of e.checkpoints) owner.set(c.id, { exp: e.name, step: c.step });

  // Per experiment, oldest first: step and flattened metrics.
  const chains = experiments.map((e, i) => ({
    name: e.name,
    color: seriesColor(i),
    points: [...e.checkpoints].reverse().map((c) => ({ step: c.step, metrics: flattenValues(c.metrics) })),
  }));

  const metricNames = new Set<string>();
  for (const ch of chains) for (const p of ch.points) for (const [k, v] of Object.entries(p.metrics)) if (isPlottable(v)) metricNames.add(k);
  // DVCLive writes the step into its metrics as `step`: a diagonal line that tells nothing.
  const onlyStep = (m: string) =>
    (m === 'step' || m.endsWith('.step')) && chains.every((ch) => ch.points.every((p) => p.metrics[m] === undefined || p.metrics[m] === p.step));

  const charts: ReportChart[] = [];
  for (const metric of [...metricNames].sort()) {
    if (onlyStep(metric)) continue;
    const stepSet = new Set<number>();
    for (const ch of chains) for (const p of ch.points) if (isPlottable(p.metrics[metric])) stepSet.add(p.step);
    const steps = [...stepSet].sort((a, b) => a - b);
    const index = new Map(steps.map((s, i) => [s, i]));
    const series: ReportSeries[] = [];
    for (const ch of chains) {
      const values: (number | null)[] = steps.map(() => null);
      let points = 0;
      for (const p of ch.points) {
        const v = p.metrics[metric];
        if (!isPlottable(v)) continue;
        // A chain's steps are unique; should one repeat, the newest value wins.
        if (values[index.get(p.step)!] === null) points++;
        values[index.get(p.step)!] = v;
      }
      // An experiment without this metric gets no line (and no legend entry) here.
      if (points > 0) series.push({ name: ch.name, color: ch.color, values, points });
    }
    charts.push({ metric, steps, series });
  }

  const paramKeys = new Set<string>();
  const metricKeys = new Set<string>();
  const rows: ReportRow[] = experiments.map((e, i) => {
    const tip = e.checkpoints[0];
    const first = e.checkpoints[e.checkpoints.length - 1];
    const params = tip ? flattenValues(tip.params) : {};
    const metrics = tip ? flattenValues(tip.metrics) : {};
    Object.keys(params).forEach((k) => paramKeys.add(k));
    Object.keys(metrics).forEach((k) => metricKeys.add(k));
    let from: string | null = null;
    if (e.parent) {
      const o = owner.get(e.parent);
      from = o ? `${o.exp}@${e.parent.slice(0, 7)}` : e.parent.slice(0, 7);
    }
    return {
      name: e.name,
      color: seriesColor(i),
      checkpoints: e.checkpoints.length,
      firstStep: first ? first.step : null,
      lastStep: tip ? tip.step : null,
      tip: e.tip ? e.tip.slice(0, 7) : null,
      from,
      created: tip ? tip.created : null,
      params,
      metrics,
    };
  });
  return { charts, rows, paramKeys: [...paramKeys].sort(), metricKeys: [...metricKeys].sort() };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Text safe inside a <script> element: no `</script`, no `<!--`. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON for a <script type="application/json"> element. */
function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function cell(v: unknown): string {
  if (v === undefined) return '<td class="na">–</td>';
  if (typeof v === 'number') {
    // Five significant digits, as `exp show` prints them; the full value on hover.
    const short = Number.isFinite(v) ? String(Number(v.toPrecision(5))) : String(v);
    return `<td class="num"${short === String(v) ? '' : ` title="${String(v)}"`}>${short}</td>`;
  }
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return `<td>${escapeHtml(text ?? String(v))}</td>`;
}

function when(iso: string | null): string {
  return iso ? escapeHtml(iso.replace('T', ' ').replace(/(\.\d+)?Z$/, 'Z')) : '–';
}

function renderTable(m: ReportModel): string {
  if (m.rows.length === 0) return '';
  const head1 =
    '<tr><th colspan="6" class="group"></th>' +
    (m.paramKeys.length ? `<th colspan="${m.paramKeys.length}" class="group">params</th>` : '') +
    (m.metricKeys.length ? `<th colspan="${m.metricKeys.length}" class="group">metrics (latest)</th>` : '') +
    '</tr>';
  const head2 =
    '<tr><th>experiment</th><th>checkpoints</th><th>steps</th><th>tip</th><th>started from</th><th>created</th>' +
    m.paramKeys.map((k) => `<th class="param">${escapeHtml(k)}</th>`).join('') +
    m.metricKeys.map((k) => `<th class="metric">${escapeHtml(k)}</th>`).join('') +
    '</tr>';
  const body = m.rows
    .map(
      (r) =>
        `<tr data-experiment="${escapeHtml(r.name)}">` +
        `<td class="name"><span class="swatch" style="background:${r.color}"></span>${escapeHtml(r.name)}</td>` +
        `<td class="num">${r.checkpoints}</td>` +
        `<td class="num">${r.firstStep === null ? '–' : r.firstStep === r.lastStep ? r.firstStep : `${r.firstStep}–${r.lastStep}`}</td>` +
        `<td class="id">${r.tip ? escapeHtml(r.tip) : '–'}</td>` +
        `<td class="id">${r.from ? escapeHtml(r.from) : '–'}</td>` +
        `<td class="time">${when(r.created)}</td>` +
        m.paramKeys.map((k) => cell(r.params[k])).join('') +
        m.metricKeys.map((k) => cell(r.metrics[k])).join('') +
        '</tr>',
    )
    .join('\n');
  return `<h2>Experiments</h2>\n<div class="table-wrap"><table id="params">\n<thead>${head1}${head2}</thead>\n<tbody>\n${body}\n</tbody></table></div>`;
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #222; background: #fff; margin: 24px 32px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.sub { color: #666; margin: 0 0 8px; }
#charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 20px; align-items: start; }
.chart { border: 1px solid #e3e3e3; border-radius: 6px; padding: 10px 12px 6px; min-width: 0; }
.chart h3 { font-size: 15px; margin: 0 0 4px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.chart .u-legend { font-size: 12.5px; text-align: left; margin-top: 2px; }
.chart .u-legend .u-marker { width: 14px; height: 4px; border-radius: 2px; }
.empty { color: #666; font-style: italic; }
.table-wrap { overflow-x: auto; }
#params { border-collapse: collapse; font-size: 13px; }
#params th, #params td { border: 1px solid #ddd; padding: 4px 9px; text-align: left; white-space: nowrap; }
#params th { background: #f5f6f8; font-weight: 600; }
#params th.group { background: #eceef2; text-align: center; font-weight: 600; color: #444; }
#params th.group:empty { background: #fff; border-top-color: #fff; border-left-color: #fff; }
#params th.param { color: #8a4b00; }
#params th.metric { color: #1f5a96; }
#params td.num { text-align: right; font-variant-numeric: tabular-nums; }
#params td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
#params td.na { color: #aaa; text-align: center; }
#params td.name { font-weight: 600; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 7px; vertical-align: -1px; }
`;

// Runs in the page after uPlot: draws the charts and exposes them as
// window.cairnCharts (for tests and the curious).
const CLIENT = `
(function () {
  var model = JSON.parse(document.getElementById('cairn-data').textContent);
  var charts = [];
  function plotWidth(el) { return Math.max(300, Math.floor(el.clientWidth)); }
  function fmt(v) {
    if (v == null) return '';
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(6));
  }
  function axisSize(self, values, axisIdx, cycleNum) {
    var axis = self.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var longest = 0;
    (values || []).forEach(function (v) { if (v != null && String(v).length > longest) longest = String(v).length; });
    return Math.ceil(longest * 7.2 + 28);
  }
  // Dots on the points while they are sparse enough to tell apart; always for a lone point, which has no line.
  function showPoints(u, si, i0, i1) {
    var d = u.data[si], n = 0;
    for (var i = i0; i <= i1; i++) if (d[i] != null) n++;
    return n <= 1 || (u.over.clientWidth || u.width) / n >= 14;
  }
  model.charts.forEach(function (c, ci) {
    var box = document.querySelector('.chart[data-index="' + ci + '"] .plot');
    var opts = {
      width: plotWidth(box),
      height: 260,
      scales: { x: { time: false } },
      cursor: { sync: { key: 'cairn' } },
      legend: { show: true, live: true },
      axes: [
        { label: 'step', labelSize: 22, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000],
          values: function (u, splits) { return splits.map(function (v) { return v == null ? '' : String(v); }); },
          grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } },
        { size: axisSize, values: function (u, splits) { return splits.map(fmt); }, grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } }
      ],
      series: [{ label: 'step', value: function (u, v) { return v == null ? '–' : String(v); } }].concat(c.series.map(function (s) {
        return { label: s.name, stroke: s.color, width: 2, spanGaps: true,
                 points: { show: showPoints, size: 6, fill: s.color, stroke: s.color },
                 value: function (u, v) { return v == null ? '–' : fmt(v); } };
      }))
    };
    var data = [c.steps].concat(c.series.map(function (s) { return s.values; }));
    var plot = new uPlot(opts, data, box);
    charts.push({ metric: c.metric, plot: plot, series: c.series.map(function (s) { return { name: s.name, color: s.color, points: s.points }; }) });
  });
  window.cairnCharts = charts;
  window.cairnReport = model;
  var pending = 0;
  window.addEventListener('resize', function () {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(function () {
      charts.forEach(function (c) { var el = c.plot.root.parentNode; c.plot.setSize({ width: plotWidth(el), height: 260 }); });
    });
  });
})();
`;

/** The whole page. Pure: the same experiments and options give the same bytes. */
export function renderReport(experiments: ShowExperiment[], opts: RenderOptions): string {
  const model = buildReportModel(experiments, { all: opts.all });
  const title = opts.title ?? 'cairn experiments';
  const nCk = model.rows.reduce((n, r) => n + r.checkpoints, 0);
  const facts = [
    `${model.rows.length} experiment${model.rows.length === 1 ? '' : 's'}`,
    `${nCk} checkpoint${nCk === 1 ? '' : 's'}`,
    `${model.charts.length} metric${model.charts.length === 1 ? '' : 's'}`,
  ];
  if (opts.generated) facts.push(`generated ${when(opts.generated)}`);
  const chartsHtml =
    model.rows.length === 0
      ? '<p class="empty">No experiments yet: run <code>cairn exp run</code>.</p>'
      : model.charts.length === 0
        ? '<p class="empty">No numeric metrics recorded yet.</p>'
        : `<div id="charts">\n${model.charts
            .map((c, i) => `<section class="chart" data-index="${i}" data-metric="${escapeHtml(c.metric)}"><h3>${escapeHtml(c.metric)}</h3><div class="plot"></div></section>`)
            .join('\n')}\n</div>`;
  const refresh = opts.refreshSeconds ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(opts.refreshSeconds))}">\n` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}<meta name="generator" content="cairn">
<title>${escapeHtml(title)}</title>
<style>${opts.assets.css}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${opts.subtitle ? `<p class="sub">${escapeHtml(opts.subtitle)}</p>\n` : ''}<p class="sub">${facts.join(' · ')}</p>
<noscript><p class="empty">The charts need JavaScript; the table below does not.</p></noscript>
${model.charts.length && model.rows.length ? '<h2>Metrics by step</h2>\n' : ''}${chartsHtml}
${renderTable(model)}
<script type="application/json" id="cairn-data">${jsonForScript({ charts: model.charts })}</script>
<script>${scriptSafe(opts.assets.js)}</script>
<script>${scriptSafe(CLIENT)}</script>
</body>
</html>
`;
}
