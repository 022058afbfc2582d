/**
 * Rendering of `exp show`: rows in DVC 2.x's layout (workspace, a row per
 * baseline, then each experiment's chain: `│ ╓` tip, `│ ╟`, `├─╨` oldest),
 * as DVC's heavy-headed box table, CSV or Markdown. Pure functions of the
 * data, so they are tested without a store.
 */
import type { ShowBaseline, ShowExperiment } from '@cairn/lineage';
import { flatten } from '@cairn/runner';

export interface ShowInput {
  workspace: { params: Record<string, unknown>; metrics: Record<string, unknown> };
  experiments: ShowExperiment[];
  /** What each baseline (by its short ID) is; a group without one shows no params. */
  baselines?: Record<string, ShowBaseline>;
  /** Names of experiments with a run in progress. */
  running?: Set<string>;
}

export interface Row {
  label: string;
  /** The checkpoint (or baseline) ID in full, '' for the workspace. */
  rev: string;
  kind: 'workspace' | 'baseline' | 'checkpoint_tip' | 'checkpoint';
  experiment: string;
  created: string;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
}

export interface RowOptions {
  /** At most this many checkpoints per experiment (newest). */
  limit?: number;
  sortBy?: string;
  sortOrder?: 'asc' | 'desc';
  now?: Date;
}

function compareValues(a: unknown, b: unknown): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** The metric and param names --sort-by accepts: those of the experiments' checkpoints. */
export function sortColumns(experiments: ShowExperiment[]): string[] {
  const names = new Set<string>();
  for (const e of experiments) {
    for (const c of e.checkpoints) {
      for (const k of Object.keys(flatten(c.metrics))) names.add(k);
      for (const k of Object.keys(flatten(c.params))) names.add(k);
    }
  }
  return [...names];
}

export function buildRows(input: ShowInput, opts: RowOptions = {}): Row[] {
  const rows: Row[] = [
    { label: 'workspace', rev: '', kind: 'workspace', experiment: '', created: '', metrics: flatten(input.workspace.metrics), params: flatten(input.workspace.params) },
  ];
  let exps = input.experiments;
  if (opts.sortBy) {
    const col = opts.sortBy;
    const value = (e: ShowExperiment) => {
      const tip = e.checkpoints[0];
      if (!tip) return undefined;
      const m = flatten(tip.metrics);
      const p = flatten(tip.params);
      return col in m ? m[col] : p[col];
    };
    const sign = opts.sortOrder === 'desc' ? -1 : 1;
    exps = [...exps].sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va === undefined || vb === undefined) return compareValues(va, vb);
      return sign * compareValues(va, vb);
    });
  }
  // Group by baseline, keeping the experiments' order; a group appears where its first experiment does.
  const groups = new Map<string, ShowExperiment[]>();
  for (const e of exps) {
    const g = groups.get(e.baseline) ?? [];
    g.push(e);
    groups.set(e.baseline, g);
  }
  const now = opts.now ?? new Date();
  for (const [baseline, list] of groups) {
    // A baseline is the deps and params its experiments started from; its row shows those
    // params, and the time it was first used (as DVC showed its commit's time).
    const first = list.flatMap((e) => e.checkpoints.map((c) => c.created)).filter(Boolean).sort()[0];
    const base = input.baselines?.[baseline];
    rows.push({ label: `baseline ${baseline}`, rev: base?.id ?? baseline, kind: 'baseline', experiment: '', created: first ? formatCreated(first, now) : '-', metrics: {}, params: flatten(base?.params ?? {}) });
    for (const e of list) {
      const shown = opts.limit !== undefined ? e.checkpoints.slice(0, opts.limit) : e.checkpoints;
      const complete = shown.length === e.checkpoints.length;
      const running = input.running?.has(e.name) ? ' (running)' : '';
      shown.forEach((c, i) => {
        // DVC's glyphs: the tip ╓, the rest ╟, and the oldest ├─╨ joining the baseline; a
        // chain that continues another experiment's checkpoint names it there, in brackets.
        const oldest = complete && i === shown.length - 1;
        const glyph = oldest ? '├─╨' : i === 0 ? '│ ╓' : '│ ╟';
        const name = i === 0 ? ` [${e.name}]${running}` : '';
        const from = oldest && e.parent ? ` (${e.parent.slice(0, 7)})` : '';
        rows.push({
          label: `${glyph} ${c.id.slice(0, 7)}${name}${from}`,
          rev: c.id,
          kind: i === 0 ? 'checkpoint_tip' : 'checkpoint',
          experiment: e.name,
          created: formatCreated(c.created, now),
          metrics: flatten(c.metrics),
          params: flatten(c.params),
        });
      });
      if (e.checkpoints.length === 0) {
        const from = e.parent ? ` (${e.parent.slice(0, 7)})` : '';
        rows.push({ label: `├── (no checkpoints) [${e.name}]${running}${from}`, rev: '', kind: 'checkpoint_tip', experiment: e.name, created: '', metrics: {}, params: {} });
      }
    }
  }
  return rows;
}

/**
 * As DVC printed it, in the local time zone: `01:21 PM` for today, `Nov 24,
 * 2026` for an older day.
 */
export function formatCreated(iso: string, now: Date): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  if (sameDay) {
    const h = d.getHours() % 12 || 12;
    return `${String(h).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')} ${d.getHours() < 12 ? 'AM' : 'PM'}`;
  }
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, '0')}, ${d.getFullYear()}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface RenderOptions {
  /** Significant digits of non-integer numbers (default 5). */
  precision?: number;
  /** Leave out columns whose value is the same in every checkpoint row. */
  onlyChanged?: boolean;
  /** Color the header and experiment names (callers decide: a TTY and no NO_COLOR). */
  color?: boolean;
}

export function columns(rows: Row[], opts: RenderOptions = {}): { metrics: string[]; params: string[] } {
  const m = new Set<string>();
  const p = new Set<string>();
  for (const r of rows) {
    Object.keys(r.metrics).forEach((k) => m.add(k));
    Object.keys(r.params).forEach((k) => p.add(k));
  }
  const varies = (key: string, pick: (r: Row) => Record<string, unknown>) => {
    const seen = new Set(rows.filter((r) => r.kind !== 'baseline' && r.kind !== 'workspace').map((r) => JSON.stringify(pick(r)[key] ?? null)));
    return seen.size > 1;
  };
  if (!opts.onlyChanged) return { metrics: [...m], params: [...p] };
  return { metrics: [...m].filter((k) => varies(k, (r) => r.metrics)), params: [...p].filter((k) => varies(k, (r) => r.params)) };
}

export function formatValue(v: unknown, precision?: number): string {
  if (v === undefined || v === null) return '-';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    return precision !== undefined ? String(Number(v.toPrecision(precision))) : String(Number(v.toPrecision(5)));
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const ANSI = { bold: '\u001b[1m', cyan: '\u001b[36m', yellow: '\u001b[33m', reset: '\u001b[0m' };

const ANSI_CODE = /\u001b\[[0-9;]*m/g;
// East Asian wide and fullwidth characters and most emoji take two terminal columns.
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f900}-\u{1f9ff}\u{20000}-\u{3fffd}]/u;

/** Terminal columns `s` takes. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s.replace(ANSI_CODE, '')) w += WIDE.test(ch) ? 2 : ch.charCodeAt(0) < 32 ? 0 : 1;
  return w;
}

/**
 * DVC 2.x's table (rich's heavy-head box): `┏━┳━┓` over the header, `┡━╇━┩`
 * under it, light rules for the body and no rule between rows.
 */
export function renderTable(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const paint = (code: string, text: string) => (opts.color ? `${code}${text}${ANSI.reset}` : text);
  const fmt = (v: unknown) => formatValue(v, opts.precision);
  const head = ['Experiment', 'Created', ...metrics, ...params];
  const right = head.map((_, i) => i >= 2 && i < 2 + metrics.length);
  const body = rows.map((r) => [r.label, r.kind === 'workspace' ? '-' : r.created || '-', ...metrics.map((k) => fmt(r.metrics[k])), ...params.map((k) => fmt(r.params[k]))]);
  const widths = head.map((h, i) => Math.max(displayWidth(h), ...body.map((cells) => displayWidth(cells[i]))));
  const pad = (text: string, i: number) => {
    const fill = ' '.repeat(widths[i] - displayWidth(text));
    return right[i] ? fill + text : text + fill;
  };
  const rule = (l: string, fill: string, mid: string, r: string) => l + widths.map((w) => fill.repeat(w + 2)).join(mid) + r;
  const line = (cells: string[], bar: string, style: (text: string, i: number) => string) => bar + cells.map((c, i) => ` ${style(pad(c, i), i)} `).join(bar) + bar;
  const out = [rule('┏', '━', '┳', '┓'), line(head, '┃', (t) => paint(ANSI.bold, t)), rule('┡', '━', '╇', '┩')];
  rows.forEach((r, n) => {
    const tip = r.kind === 'checkpoint_tip' ? (r.label.includes('(running)') ? ANSI.yellow : ANSI.cyan) : r.kind === 'baseline' ? ANSI.bold : undefined;
    out.push(line(body[n], '│', (t, i) => (i === 0 && tip ? paint(tip, t) : t)));
  });
  out.push(rule('└', '─', '┴', '┘'));
  return out.join('\n');
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const lines = [['Experiment', 'rev', 'typ', 'Created', ...metrics, ...params].map(csvCell).join(',')];
  for (const r of rows) {
    const rev = r.kind === 'workspace' ? 'workspace' : r.rev.slice(0, 7);
    lines.push([r.experiment, rev, r.kind, r.kind === 'workspace' ? '' : r.created, ...metrics.map((k) => (r.metrics[k] === undefined ? '' : formatValue(r.metrics[k], opts.precision))), ...params.map((k) => (r.params[k] === undefined ? '' : formatValue(r.params[k], opts.precision)))].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export function renderMarkdown(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const head = ['Experiment', 'Created', ...metrics, ...params];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${head.map(esc).join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : i < 2 + metrics.length ? ' ---: ' : ' --- ')).join('|')}|`];
  for (const r of rows) {
    lines.push(`| ${[r.label, r.kind === 'workspace' ? '-' : r.created || '-', ...metrics.map((k) => formatValue(r.metrics[k], opts.precision)), ...params.map((k) => formatValue(r.params[k], opts.precision))].map(esc).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
