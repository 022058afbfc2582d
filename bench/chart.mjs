// The chart: two grouped bar panels, hand-written SVG (no dependencies, no
// browser needed to make it; any browser or GitHub shows it).
//   top:    ingest time per checkpoint, × cp + fsync (median bar, min–max whisker), a line at 1×
//   bottom: stored bytes after N checkpoints (MiB), with the least possible ("changed") marked per scenario

import { fmtBytes } from './gen-safetensors.mjs';
import { figures, TOOL_ORDER, TOOL_LABEL } from './report.mjs';

const COLORS = { cairn: '#1f5fd6', restic: '#e08a00', 'git-lfs': '#c2410c', wholefile: '#7c8796' };
const MiB = 1024 * 1024;

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" axis: max and step with about `n` ticks. */
function niceAxis(max, n = 5) {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return { max: Math.ceil(max / step) * step, step };
}

const fmtTick = (v, step) => (step >= 1 ? v.toFixed(0) : step >= 0.1 ? v.toFixed(1) : v.toFixed(2));

export function renderChart(results) {
  const scen = results.scenarios.filter((s) => s.tools.cairn);
  const tools = TOOL_ORDER.filter((t) => scen.some((s) => s.tools[t]));
  const meta = results.meta;
  const W = 1000;
  const left = 70;
  const right = 20;
  const plotW = W - left - right;
  const groupW = plotW / Math.max(1, scen.length);
  const barW = Math.min(34, (groupW * 0.8) / tools.length);
  const P1 = { top: 130, h: 240 };
  const P2 = { top: 466, h: 240 };
  const H = P2.top + P2.h + 78;
  const o = [];
  const text = (x, y, s, a = {}) =>
    o.push(
      `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${a.anchor ? ` text-anchor="${a.anchor}"` : ''} font-size="${a.size ?? 12}"${a.weight ? ` font-weight="${a.weight}"` : ''} fill="${a.fill ?? '#222'}"${a.rotate ? ` transform="rotate(${a.rotate} ${x.toFixed(1)} ${y.toFixed(1)})"` : ''}>${esc(s)}</text>`,
    );
  const barX = (gi, ti) => left + gi * groupW + (groupW - barW * tools.length) / 2 + ti * barW;

  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  text(left, 30, `cairn vs restic, git-lfs, whole-file — ${fmtBytes(meta.sizeBytes)} models, ${meta.checkpoints} checkpoints per scenario`, { size: 18, weight: 600 });
  const m = meta.machine;
  const cmd = meta.mode === 'quick' && meta.argv.length === 0 ? 'npm run bench' : meta.command;
  text(left, 50, `${meta.date.slice(0, 10)} · ${m.cpus} × ${m.cpu} · ${m.os} · ${cmd.length > 70 ? cmd.slice(0, 69) + '…' : cmd}`, { size: 11, fill: '#555' });

  // Legend
  let lx = left;
  for (const t of tools) {
    o.push(`<rect x="${lx}" y="64" width="14" height="14" rx="2" fill="${COLORS[t]}"/>`);
    text(lx + 20, 76, TOOL_LABEL[t], { size: 13 });
    lx += 28 + TOOL_LABEL[t].length * 7.2;
  }
  o.push(`<line x1="${lx}" y1="71" x2="${lx + 26}" y2="71" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  text(lx + 32, 76, 'cp + fsync = 1×', { size: 13 });
  lx += 150;
  o.push(`<line x1="${lx}" y1="71" x2="${lx + 26}" y2="71" stroke="#1a7f37" stroke-width="1.5" stroke-dasharray="2 2"/>`);
  text(lx + 32, 76, 'changed bytes (least possible)', { size: 13 });

  const panel = (P, title, values, { fmt, unit, refLine, markers }) => {
    const vmax = Math.max(refLine ?? 0, ...values.flat().map((v) => v.hi ?? v.v).filter(Number.isFinite), ...(markers ?? []).flat().map((x) => x.v));
    const ax = niceAxis(vmax * 1.12);
    const y = (v) => P.top + P.h - (Math.min(v, ax.max) / ax.max) * P.h;
    text(left, P.top - 16, title, { size: 14, weight: 600 });
    for (let v = 0; v <= ax.max + 1e-9; v += ax.step) {
      o.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${W - right}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#999' : '#e6e6e6'}" stroke-width="1"/>`);
      text(left - 8, y(v) + 4, `${fmtTick(v, ax.step)}${unit}`, { anchor: 'end', size: 11, fill: '#555' });
    }
    scen.forEach((s, gi) => {
      const cx = left + gi * groupW + groupW / 2;
      text(cx, P.top + P.h + 18, s.name, { anchor: 'middle', size: 13, weight: 600 });
      text(cx, P.top + P.h + 33, s.short ?? '', { anchor: 'middle', size: 10.5, fill: '#666' });
      tools.forEach((t, ti) => {
        const d = values[gi][ti];
        const x = barX(gi, ti);
        if (!d || !Number.isFinite(d.v)) {
          text(x + barW / 2, P.top + P.h - 4, 'n/a', { anchor: 'middle', size: 9, fill: '#999' });
          return;
        }
        const top = y(d.v);
        o.push(`<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(P.top + P.h - top).toFixed(1)}" fill="${COLORS[t]}"><title>${esc(`${TOOL_LABEL[t]}, ${s.name}: ${d.title}`)}</title></rect>`);
        let labelY = top - 4;
        if (Number.isFinite(d.lo) && Number.isFinite(d.hi)) {
          const cx = x + barW / 2;
          o.push(`<line x1="${cx.toFixed(1)}" y1="${y(d.lo).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(d.hi).toFixed(1)}" stroke="#222" stroke-width="1"/>`);
          o.push(`<line x1="${(cx - 4).toFixed(1)}" y1="${y(d.hi).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y2="${y(d.hi).toFixed(1)}" stroke="#222" stroke-width="1"/>`);
          o.push(`<line x1="${(cx - 4).toFixed(1)}" y1="${y(d.lo).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y2="${y(d.lo).toFixed(1)}" stroke="#222" stroke-width="1"/>`);
          labelY = Math.min(labelY, y(d.hi) - 4);
        }
        text(x + barW / 2, labelY, fmt(d.v), { anchor: 'middle', size: 10, fill: t === 'cairn' ? COLORS.cairn : '#333', weight: t === 'cairn' ? 700 : null });
      });
      for (const mk of markers?.[gi] ?? []) {
        const x0 = barX(gi, 0) - 6;
        const x1 = barX(gi, tools.length - 1) + barW + 6;
        o.push(`<line x1="${x0.toFixed(1)}" y1="${y(mk.v).toFixed(1)}" x2="${x1.toFixed(1)}" y2="${y(mk.v).toFixed(1)}" stroke="${mk.color}" stroke-width="1.5" stroke-dasharray="2 2"/>`);
        text(x1 + 2, y(mk.v) + 3.5, mk.label, { size: 9.5, fill: mk.color });
      }
    });
    if (refLine !== undefined) {
      o.push(`<line x1="${left}" y1="${y(refLine).toFixed(1)}" x2="${W - right}" y2="${y(refLine).toFixed(1)}" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`);
    }
  };

  const ingest = scen.map((s) =>
    tools.map((t) => {
      const f = figures(s, t);
      return f && { v: f.ingest.median, lo: f.ingest.min, hi: f.ingest.max, title: `ingest ${f.ingest.median.toFixed(2)}× cp+fsync (${f.ingestMs.median.toFixed(0)} ms), range ${f.ingest.min.toFixed(2)}–${f.ingest.max.toFixed(2)}` };
    }),
  );
  panel(P1, `Ingest time per checkpoint, × cp + fsync — median of checkpoints 1–${meta.checkpoints - 1}, whiskers min–max (lower is better)`, ingest, {
    fmt: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + '×',
    unit: '×',
    refLine: 1,
  });

  const stored = scen.map((s) =>
    tools.map((t) => {
      const f = figures(s, t);
      return f && { v: f.stored / MiB, title: `stored ${fmtBytes(f.stored)}` };
    }),
  );
  const markers = scen.map((s) => [
    { v: s.steps.reduce((a, x) => a + x.changedBytes, 0) / MiB, label: '', color: '#1a7f37' },
  ]);
  panel(P2, `Stored after ${meta.checkpoints} checkpoints, MiB (lower is better)`, stored, {
    fmt: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
    unit: '',
    markers,
  });
  text(left, H - 14, `Every tool gets the same bytes in the same run; timings include an fsync of what each tool wrote. Details: bench/README.md.`, { size: 10.5, fill: '#666' });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

const LINE_COLORS = ['#1f5fd6', '#e08a00', '#1a7f37', '#c2410c', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f', '#7c8796', '#b45309'];

/**
 * A line chart of ratios against thread counts (bench/speed.mjs): one line
 * per operation, x = thread counts (evenly spaced), y = × cp + fsync, a
 * dashed line at 1×, each line's target as a short tick of its colour at the
 * right edge. `series`: [{ label, values: [number|null per x], target }].
 */
export function renderLineChart({ title, subtitle = '', xs, series, xLabel = 'threads (CAIRN_THREADS)', yLabel = '× cp + fsync', footer = '' }) {
  const W = 1000;
  const left = 70;
  const legendW = 300;
  const right = 20 + legendW;
  const plotW = W - left - right;
  const P = { top: 80, h: 380 };
  const H = P.top + P.h + 80;
  const o = [];
  const text = (x, y, s, a = {}) =>
    o.push(
      `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${a.anchor ? ` text-anchor="${a.anchor}"` : ''} font-size="${a.size ?? 12}"${a.weight ? ` font-weight="${a.weight}"` : ''} fill="${a.fill ?? '#222'}"${a.rotate ? ` transform="rotate(${a.rotate} ${x.toFixed(1)} ${y.toFixed(1)})"` : ''}>${esc(s)}</text>`,
    );
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  text(left, 30, title, { size: 18, weight: 600 });
  if (subtitle) text(left, 50, subtitle.length > 150 ? subtitle.slice(0, 149) + '…' : subtitle, { size: 11, fill: '#555' });
  const all = series.flatMap((s) => [...s.values, s.target]).filter(Number.isFinite);
  const ax = niceAxis(Math.max(1, ...all) * 1.1);
  const y = (v) => P.top + P.h - (Math.min(v, ax.max) / ax.max) * P.h;
  const x = (i) => left + (xs.length === 1 ? plotW / 2 : 30 + (i * (plotW - 60)) / (xs.length - 1));
  for (let v = 0; v <= ax.max + 1e-9; v += ax.step) {
    o.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${left + plotW}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#999' : '#e6e6e6'}" stroke-width="1"/>`);
    text(left - 8, y(v) + 4, `${fmtTick(v, ax.step)}×`, { anchor: 'end', size: 11, fill: '#555' });
  }
  xs.forEach((t, i) => text(x(i), P.top + P.h + 18, String(t), { anchor: 'middle', size: 12 }));
  text(left + plotW / 2, P.top + P.h + 40, xLabel, { anchor: 'middle', size: 12, fill: '#555' });
  text(18, P.top + P.h / 2, yLabel, { anchor: 'middle', size: 12, fill: '#555', rotate: -90 });
  o.push(`<line x1="${left}" y1="${y(1).toFixed(1)}" x2="${left + plotW}" y2="${y(1).toFixed(1)}" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  series.forEach((s, si) => {
    const c = LINE_COLORS[si % LINE_COLORS.length];
    const pts = s.values.map((v, i) => (Number.isFinite(v) ? [x(i), y(v), v] : null));
    const segs = [];
    let cur = [];
    for (const p of pts) {
      if (p) cur.push(p);
      else if (cur.length) (segs.push(cur), (cur = []));
    }
    if (cur.length) segs.push(cur);
    for (const sg of segs) o.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${sg.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts.filter(Boolean)) o.push(`<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3.5" fill="${c}"><title>${esc(`${s.label}: ${p[2].toFixed(2)}×`)}</title></circle>`);
    if (Number.isFinite(s.target)) o.push(`<line x1="${(left + plotW - 8).toFixed(1)}" y1="${y(s.target).toFixed(1)}" x2="${(left + plotW + 4).toFixed(1)}" y2="${y(s.target).toFixed(1)}" stroke="${c}" stroke-width="3"/>`);
    const ly = P.top + 4 + si * 22;
    const lx = left + plotW + 24;
    o.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${c}" stroke-width="2"/><circle cx="${lx + 11}" cy="${ly}" r="3.5" fill="${c}"/>`);
    text(lx + 30, ly + 4, `${s.label}${Number.isFinite(s.target) ? ` (≤ ${s.target}×)` : ''}`, { size: 12 });
  });
  const ly = P.top + 4 + series.length * 22 + 8;
  o.push(`<line x1="${left + plotW + 24}" y1="${ly}" x2="${left + plotW + 46}" y2="${ly}" stroke="#111" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  text(left + plotW + 54, ly + 4, 'cp + fsync = 1×', { size: 12 });
  text(left + plotW + 24, ly + 24, 'ticks at the right edge: targets', { size: 11, fill: '#555' });
  if (footer) text(left, H - 14, footer, { size: 10.5, fill: '#666' });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
