#!/usr/bin/env node
// `npm run bench:publish`: puts a benchmark run in the README. `npm run
// bench` only writes to bench/out/ (ignored), so that running it never
// dirties the tree; publishing is a separate, deliberate step.
//
//   node bench/publish.mjs                  the newest bench/out/*.json with storage scenarios
//   node bench/publish.mjs bench/out/X.json a chosen run
//
// It copies the run's chart and full report to bench/results/latest.{svg,md}
// (what the README links to) and rewrites the README between
// <!-- bench:publish:begin --> and <!-- bench:publish:end -->.
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, renderMarkdown, renderMatrices, TOOL_LABEL } from './report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const README = process.env.CAIRN_BENCH_README ?? join(ROOT, 'README.md');
const BEGIN = '<!-- bench:publish:begin -->';
const END = '<!-- bench:publish:end -->';

function newestRun() {
  const dir = join(HERE, 'out');
  const runs = (existsSync(dir) ? readdirSync(dir) : [])
    .filter((n) => n.endsWith('.json'))
    .map((n) => join(dir, n))
    .filter((p) => JSON.parse(readFileSync(p, 'utf8')).scenarios?.some((s) => s.tools?.cairn))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (runs.length === 0) {
    console.error('bench:publish: no run with storage scenarios in bench/out/: run npm run bench first');
    process.exit(2);
  }
  return runs[0];
}

const jsonPath = resolve(process.argv[2] ?? newestRun());
const results = JSON.parse(readFileSync(jsonPath, 'utf8'));
const chart = jsonPath.replace(/\.json$/, '.svg');
if (!existsSync(chart)) {
  console.error(`bench:publish: ${relative(ROOT, chart)} is missing (the chart is written beside the run's JSON)`);
  process.exit(2);
}
const text = readFileSync(README, 'utf8');
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a === -1 || b === -1 || b < a) {
  console.error(`bench:publish: ${README} has no ${BEGIN} … ${END} block to rewrite`);
  process.exit(2);
}

const scen = results.scenarios.filter((s) => s.tools.cairn);
const { meta } = results;
// The report's tables, with its per-table headings made README bold lines and its notes left to the full report.
const README_TITLES = [
  [/^Ingest/, `**Ingest, one checkpoint** (× cp+fsync, median [min–max] of checkpoints 1–${meta.checkpoints - 1})`],
  [/^Restore/, `**Restore checkpoint ${meta.restoreCheckpoint}** (× cp+fsync, median [min–max] of ${meta.reps}; every restore verified by SHA-256)`],
  [/^Stored/, `**Stored after ${meta.checkpoints} checkpoints** (MiB, × cairn; "changed" = first checkpoint + changed bytes, the least possible)`],
  [/^Peak RSS/, '**Peak RSS** (MiB, ingest / restore)'],
];
const L = [];
renderMatrices(L, results, scen);
const tables = [];
let keep = false;
for (const line of L) {
  const h = /^### (.*)$/.exec(line);
  if (h) {
    const title = README_TITLES.find(([re]) => re.test(h[1]));
    keep = title !== undefined;
    if (keep) tables.push(title[1], '');
    continue;
  }
  if (keep && line.startsWith('|')) tables.push(line);
  else if (keep && line === '' && tables.at(-1) !== '') tables.push('');
}
const peers = (meta.tools ?? []).filter((t) => !['cairn', 'cp'].includes(t.name)).map((t) => `${TOOL_LABEL[t.name]}: ${t.version}`);
const block = [
  BEGIN,
  '![ingest time and stored bytes per tool and scenario](bench/results/latest.svg)',
  '',
  `\`${meta.mode === 'quick' && meta.argv.length === 0 ? 'npm run bench' : meta.command}\` on ${meta.date.slice(0, 16).replace('T', ' ')} UTC (commit ${meta.commit ?? '?'}), ${(meta.elapsedMs / 1000).toFixed(0)} s: ${machineLine(meta)}${peers.length ? `; ${peers.join('; ')}` : ''}. Full report: [bench/results/latest.md](bench/results/latest.md); method: [bench/README.md](bench/README.md).`,
  '',
  ...tables,
  END,
].join('\n');

copyFileSync(chart, join(HERE, 'results', 'latest.svg'));
writeFileSync(join(HERE, 'results', 'latest.md'), renderMarkdown(results, { chart: 'latest.svg' }));
writeFileSync(README, text.slice(0, a) + block + text.slice(b + END.length));
console.log(`bench:publish: ${relative(ROOT, jsonPath)} -> ${relative(ROOT, README)}, bench/results/latest.{svg,md}`);
