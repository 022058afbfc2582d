// `cairn exp plots` and `live: {html: true}`, black-box: real experiments
// made with the CLI, then the HTML opened in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; never a downloaded browser).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cairn, tempDir } from './lib/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
// In CI a missing browser must not turn into a green run that checked
// nothing; locally it is fine to skip, as long as it is said loudly.
const inCI = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI!.toLowerCase());
const MISSING = `${CHROMIUM} is missing${inCI ? ' and CI is set: the browser checks must run in CI' : ''}. Install it with: apt-get update && apt-get install -y chromium`;
if (!haveChromium) {
  console.error(`\n!!! ${MISSING}\n!!! ${inCI ? 'The browser checks FAIL.' : 'The exp plots browser checks are SKIPPED.'}\n`);
}
/** Run the browser part of a test: always when Chromium is there, and in CI even without it (so that it fails). */
const useBrowser = haveChromium || inCI;

interface ShowJson {
  experiments: { name: string; checkpoints: { step: number; metrics: Record<string, unknown>; params: Record<string, unknown> }[] }[];
}

/** What the page exposes of each chart, read in the browser. */
interface PageChart {
  metric: string;
  labels: string[];
  points: number[];
  legend: string[];
  /** Per series, how many canvas pixels have (about) its stroke colour. */
  inked: number[];
}

interface PageView {
  charts: PageChart[];
  rows: { name: string; cells: Record<string, string> }[];
  requests: string[];
  errors: string[];
}

async function ok(args: string[], cwd: string) {
  const r = await cairn(args, { cwd });
  assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Opens `file` in headless Chromium, reads the charts and the table, and saves a screenshot. */
async function viewInBrowser(file: string, screenshot: string): Promise<PageView> {
  if (!haveChromium) assert.fail(MISSING);
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // The page must need nothing but itself: anything else is recorded and refused.
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url === pathToFileURL(file).href) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => Array.isArray((window as { cairnCharts?: unknown }).cairnCharts));
    const view = await page.evaluate(() => {
      type Plot = {
        series: { label?: string; stroke?: unknown }[];
        data: (number | null)[][];
        ctx: CanvasRenderingContext2D;
        root: HTMLElement;
      };
      const charts = (window as unknown as { cairnCharts: { metric: string; plot: Plot }[] }).cairnCharts;
      const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      return {
        charts: charts.map((c) => {
          const { canvas } = c.plot.ctx;
          const img = c.plot.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const lines = c.plot.series.slice(1);
          const inked = lines.map((s) => {
            const stroke = typeof s.stroke === 'function' ? (s.stroke as () => string)() : String(s.stroke);
            const [r, g, b] = rgb(stroke);
            let n = 0;
            for (let i = 0; i < img.length; i += 4) {
              if (img[i + 3] > 200 && Math.abs(img[i] - r) + Math.abs(img[i + 1] - g) + Math.abs(img[i + 2] - b) < 24) n++;
            }
            return n;
          });
          return {
            metric: c.metric,
            labels: lines.map((s) => String(s.label)),
            points: c.plot.data.slice(1).map((d) => d.filter((v) => v !== null && v !== undefined).length),
            legend: [...c.plot.root.querySelectorAll('.u-legend .u-series .u-label')].map((e) => e.textContent ?? '').slice(1),
            inked,
          };
        }),
        rows: [...document.querySelectorAll('#params tbody tr')].map((tr) => {
          const heads = [...document.querySelectorAll('#params thead tr:last-child th')].map((th) => th.textContent ?? '');
          const cells: Record<string, string> = {};
          [...tr.querySelectorAll('td')].forEach((td, i) => (cells[heads[i]] = td.textContent ?? ''));
          return { name: (tr as HTMLElement).dataset.experiment ?? '', cells };
        }),
      };
    });
    await mkdir(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: join(OUTPUT_DIR, screenshot), fullPage: true });
    return { ...view, requests, errors };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/** Per experiment (in `exp show` order), how many checkpoints have a number for `metric`. */
function expectedPoints(show: ShowJson, metric: string): number[] {
  return show.experiments.map((e) => e.checkpoints.filter((c) => typeof c.metrics[metric] === 'number').length);
}

describe('cairn exp plots', () => {
  let ws: string;
  let show: ShowJson;
  before(async () => {
    ws = await tempDir('cairn-plots-');
    await ok(['init', '--example'], ws);
    await ok(['exp', 'run'], ws);
    await ok(['exp', 'run', '-S', 'lr=5.0'], ws);
    await ok(['exp', 'run', '--reset', '-S', 'lr=0.5', '-S', 'epochs=3'], ws);
    show = JSON.parse((await ok(['exp', 'show', '--json'], ws)).stdout);
    assert.equal(show.experiments.length, 3);
  });
  after(async () => {
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  it('writes one self-contained HTML file and prints its file:// address', async () => {
    const r = await ok(['exp', 'plots', '-o', 'report.html'], ws);
    const file = join(ws, 'report.html');
    assert.equal(r.stdout, `${pathToFileURL(file).href}\n`);
    const html = await readFile(file, 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i);
    for (const e of show.experiments) assert.match(html, new RegExp(`data-experiment="${e.name}"`));
    const json = JSON.parse((await ok(['exp', 'plots', '-o', 'sub/r2.html', '--json'], ws)).stdout);
    assert.equal(json.path, join(ws, 'sub', 'r2.html'));
    assert.deepEqual(json.experiments, show.experiments.map((e) => e.name));
    assert.ok(existsSync(join(ws, 'sub', 'r2.html')));
  });

  it('plots only the experiments named; an unknown name is NOT_FOUND (exit 3)', async () => {
    const [first, second] = show.experiments;
    await ok(['exp', 'plots', second.name, first.name, '-o', 'two.html'], ws);
    const html = await readFile(join(ws, 'two.html'), 'utf8');
    const shown = [...html.matchAll(/data-experiment="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(shown, [second.name, first.name]);
    const miss = await cairn(['exp', 'plots', first.name, 'exp-nope0', '-o', 'x.html'], { cwd: ws });
    assert.equal(miss.code, 3);
    assert.equal(miss.stderr.split('\n')[0], "cairn: error: no experiment named 'exp-nope0'");
    assert.ok(!existsSync(join(ws, 'x.html')), 'nothing written');
    const nowhere = await tempDir();
    assert.equal((await cairn(['exp', 'plots', '-o', 'x.html'], { cwd: nowhere })).code, 3, 'no store');
  });

  it('in Chromium: one chart per metric, one line per experiment with the right number of points, a legend and a params table', { skip: !useBrowser && `${CHROMIUM} is missing` }, async () => {
    await ok(['exp', 'plots', '-o', 'report.html'], ws);
    const view = await viewInBrowser(join(ws, 'report.html'), 'exp-plots.png');
    assert.deepEqual(view.errors, []);
    assert.deepEqual(view.requests, [], 'the page loads nothing from elsewhere');
    // The example logs step, loss and acc; `step` against step is left out.
    assert.deepEqual(view.charts.map((c) => c.metric), ['acc', 'loss']);
    const names = show.experiments.map((e) => e.name);
    for (const c of view.charts) {
      assert.deepEqual(c.labels, names, `${c.metric}: one line per experiment`);
      assert.deepEqual(c.legend, names, `${c.metric}: the legend names them`);
      assert.deepEqual(c.points, expectedPoints(show, c.metric), `${c.metric}: one point per checkpoint`);
      c.inked.forEach((n, i) => assert.ok(n > 30, `${c.metric}: the line of ${names[i]} is drawn (${n} pixels of its colour)`));
    }
    assert.deepEqual(view.charts[0].points, [3, 5, 5], 'newest first: the --reset run, the branch, the first run');
    assert.deepEqual(view.rows.map((r) => r.name), names);
    for (const [i, e] of show.experiments.entries()) {
      assert.equal(view.rows[i].cells.lr, String(e.checkpoints[0].params.lr));
      assert.equal(view.rows[i].cells.checkpoints, String(e.checkpoints.length));
    }
    assert.equal(view.rows[1].cells['started from'].split('@')[0], names[2], 'the branched experiment names its parent');
  });
});

describe('live: {html: true}', () => {
  let ws: string;
  after(async () => {
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  it('refreshes cairn-live.html after every checkpoint and prints its file:// address once', async () => {
    ws = await tempDir('cairn-live-');
    await ok(['init', '--example'], ws);
    await appendFile(join(ws, 'cairn.yaml'), '    live:\n      html: true\n');
    const r = await ok(['exp', 'run'], ws);
    const file = join(ws, 'cairn-live.html');
    const url = pathToFileURL(file).href;
    assert.equal(r.stdout.split('\n').filter((l) => l.includes('file://')).join('\n'), url, r.stdout);
    const html = await readFile(file, 'utf8');
    assert.match(html, /<meta http-equiv="refresh" content="5">/);
    const show: ShowJson = JSON.parse((await ok(['exp', 'show', '--json'], ws)).stdout);
    const [exp] = show.experiments;
    assert.match(html, new RegExp(`data-experiment="${exp.name}"`));
    // The last refresh saw the last checkpoint.
    const data = JSON.parse(/<script type="application\/json" id="cairn-data">(.*?)<\/script>/s.exec(html)![1]);
    const acc = data.charts.find((c: { metric: string }) => c.metric === 'acc');
    assert.deepEqual(acc.steps, exp.checkpoints.map((c) => c.step).reverse());
    if (useBrowser) {
      const view = await viewInBrowser(file, 'cairn-live.png');
      assert.deepEqual(view.errors, []);
      assert.deepEqual(view.requests, []);
      for (const c of view.charts) assert.deepEqual(c.points, [exp.checkpoints.length]);
    }
  });
});
