// Targets, the Markdown report (stdout) and the JSON results file.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fmtBytes } from './gen-safetensors.mjs';
import { median } from './measure.mjs';

const MiB = 1024 * 1024;
const RSS_LIMIT_MIB = 300;

/**
 * The targets, all ratios. Storage targets are deterministic and must hold
 * at every checkpoint (worst case reported). Timing targets use, per
 * checkpoint, median(cairn over reps) / median(cp+fsync over reps); the
 * verdict is on the median of those per-checkpoint ratios (the worst is shown
 * too) since the box is shared and noisy.
 */
export function evaluateTargets(results) {
  const sc = Object.fromEntries(results.scenarios.map((s) => [s.name, s]));
  const out = [];
  const later = (s) => s.checkpoints.filter((c) => c.k > 0);

  const storageLater = (name, what, limit) => {
    const s = sc[name];
    if (!s) return;
    const cs = later(s);
    if (!cs.length) return out.push({ target: `${name}: each later checkpoint adds ≤ ${limit}× ${what}`, limit, measured: null, pass: null, detail: 'needs ≥ 2 checkpoints' });
    const worst = cs.reduce((a, c) => (c.addedRatio > a.addedRatio ? c : a));
    out.push({
      target: `${name}: each later checkpoint adds ≤ ${limit}× ${what}`,
      limit,
      measured: worst.addedRatio,
      pass: worst.addedRatio <= limit,
      detail: `worst ckpt ${worst.k}: +${fmtBytes(worst.storedAdded)} for ${fmtBytes(worst.changedBytes)} changed; median ${median(cs.map((c) => c.addedRatio)).toFixed(3)}×`,
    });
  };
  storageLater('frozen', 'changed-tensor bytes', 1.1);
  storageLater('lora', 'adapter bytes', 1.1);

  if (sc.full) {
    const cs = sc.full.checkpoints;
    const worst = cs.reduce((a, c) => (c.addedRatio > a.addedRatio ? c : a));
    out.push({
      target: 'full: each checkpoint adds ≤ 1.01× raw bytes',
      limit: 1.01,
      measured: worst.addedRatio,
      pass: worst.addedRatio <= 1.01,
      detail: `worst ckpt ${worst.k}: +${fmtBytes(worst.storedAdded)} for ${fmtBytes(worst.changedBytes)}; total stored/logical ${sc.full.totals.storedOverCheckpoint.toFixed(4)}`,
    });
  }

  const timing = (label, list, limit) => {
    if (!list.length) return;
    const ratios = list.map((x) => x.ratio);
    const m = median(ratios);
    const worst = list.reduce((a, x) => (x.ratio > a.ratio ? x : a));
    out.push({
      target: label,
      limit,
      measured: m,
      pass: m <= limit,
      detail: `median of ${list.length} per-checkpoint ratios; worst ${worst.ratio.toFixed(2)}× (${worst.where})`,
    });
  };
  const fully = [];
  for (const s of results.scenarios) for (const c of s.checkpoints) if (c.fullyChanged) fully.push({ ratio: c.ratio, where: `${s.name} ckpt ${c.k}` });
  timing('ingest of a fully changed file ≤ 1.3× cp+fsync', fully, 1.3);
  if (sc.frozen) timing('frozen: update ingest (ckpt ≥ 1) ≤ 0.6× cp+fsync', later(sc.frozen).map((c) => ({ ratio: c.ratio, where: `frozen ckpt ${c.k}` })), 0.6);
  for (const s of results.scenarios) {
    if (!s.restore) continue;
    out.push({
      target: `${s.name}: restore of ckpt ${s.restore.k} ≤ 1.3× cp+fsync`,
      limit: 1.3,
      measured: s.restore.ratio,
      pass: s.restore.ratio <= 1.3 && s.restore.verified === true,
      detail: `${s.restore.cairn.median.toFixed(0)} ms vs ${s.restore.cp.median.toFixed(0)} ms; bytes verified: ${s.restore.verified}`,
    });
  }

  const peaks = [];
  for (const s of results.scenarios) {
    for (const c of s.checkpoints) peaks.push({ kib: c.peakRssKiB, where: `${s.name} ingest ckpt ${c.k}` });
    if (s.restore) peaks.push({ kib: s.restore.peakRssKiB, where: `${s.name} restore` });
  }
  if (peaks.length) {
    const worst = peaks.reduce((a, p) => (p.kib > a.kib ? p : a));
    const mib = worst.kib / 1024;
    out.push({
      target: `peak RSS of ingest/restore < ${RSS_LIMIT_MIB} MiB`,
      limit: RSS_LIMIT_MIB,
      measured: mib,
      pass: mib < RSS_LIMIT_MIB,
      detail: `${worst.where}${results.meta.sizeBytes < 4 * 1024 * MiB ? `; indicative only at ${fmtBytes(results.meta.sizeBytes)} files, meaningful with --size 4GiB --checkpoints 3` : ''}`,
    });
  }
  return out;
}

const ms = (s) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
const mib = (b) => (b / MiB).toFixed(2);
const x = (r, d = 2) => (Number.isFinite(r) ? `${r.toFixed(d)}×` : '–');
const verdict = (p) => (p === true ? '**PASS**' : p === false ? '**FAIL**' : 'n/a');

export function renderMarkdown(results) {
  const { meta } = results;
  const L = [];
  L.push(`# cairn bench — ${meta.mode} mode, ${fmtBytes(meta.sizeBytes)} files, ${meta.checkpoints} checkpoints, ${meta.reps} reps`);
  L.push('');
  L.push(`${meta.date} · node ${meta.node} · ${meta.cpus} CPUs · load ${meta.loadavg.map((v) => v.toFixed(2)).join(' ')} · data=${meta.data} · ${(meta.elapsedMs / 1000).toFixed(1)} s`);
  L.push('');
  for (const s of results.scenarios) {
    L.push(`## ${s.name} — ${s.describe}`);
    L.push('');
    L.push(
      `file ${fmtBytes(s.fileBytes)}, ${s.model.tensors} tensors (${s.model.layers} layers, d=${s.model.hidden}, vocab=${s.model.vocab}${s.model.loraRank ? `, LoRA r=${s.model.loraRank}` : ''}); ` +
        `${s.changingTensors} tensors = ${fmtBytes(s.changingBytes)} (${(s.changingFrac * 100).toFixed(2)}% of tensor bytes) change per checkpoint after the first.`,
    );
    L.push('');
    L.push('| ckpt | changed MiB | stored + MiB | stored/changed | ingest ms med (min–max) | cp+fsync ms med (min–max) | ingest/cp | min/min | peak RSS MiB |');
    L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of s.checkpoints) {
      L.push(
        `| ${c.k} | ${mib(c.changedBytes)} | ${mib(c.storedAdded)} | ${x(c.addedRatio, 3)} | ${ms(c.ingest)} | ${ms(c.cp)} | ${x(c.ratio)} | ${x(c.ingest.min / c.cp.min)} | ${(c.peakRssKiB / 1024).toFixed(0)} |`,
      );
    }
    L.push('');
    if (s.warnings.length) {
      for (const w of s.warnings) L.push(`> WARNING: ${w}`);
      L.push('');
    }
  }

  L.push('## Totals and restore');
  L.push('');
  L.push('| scenario | copies (N × file) MiB | changed MiB | stored MiB | store dir MiB | stored/copies | restore ckpt | restore ms med (min–max) | cp+fsync ms med (min–max) | restore/cp | min/min | verified | restore RSS MiB |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: |');
  for (const s of results.scenarios) {
    const t = s.totals;
    const r = s.restore;
    L.push(
      `| ${s.name} | ${mib(t.checkpointBytes)} | ${mib(t.changedBytes)} | ${mib(t.storedBytes)} | ${mib(t.storeDirBytes)} | ${x(t.storedOverCheckpoint, 3)} | ${r.k} | ${ms(r.cairn)} | ${ms(r.cp)} | ${x(r.ratio)} | ${x(r.cairn.min / r.cp.min)} | ${r.verified ? 'yes' : '**NO**'} | ${(r.peakRssKiB / 1024).toFixed(0)} |`,
    );
  }
  L.push('');

  L.push('## Targets');
  L.push('');
  L.push('| target | measured | limit | result | detail |');
  L.push('| --- | ---: | ---: | :---: | --- |');
  for (const t of results.targets) {
    const m = t.measured === null ? '–' : t.target.startsWith('peak RSS') ? `${t.measured.toFixed(0)} MiB` : x(t.measured, 3);
    const lim = t.target.startsWith('peak RSS') ? `${t.limit} MiB` : `${t.limit}×`;
    L.push(`| ${t.target} | ${m} | ${lim} | ${verdict(t.pass)} | ${t.detail} |`);
  }
  L.push('');
  for (const n of meta.notes) L.push(`- ${n}`);
  L.push('');
  return L.join('\n');
}

export function writeJson(results, path) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
}
