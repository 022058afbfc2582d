/**
 * Rendering of `exp show`: rows in DVC's layout (workspace, baselines, then
 * each experiment's chain with ╓ ╟ ╨ glyphs), as a box table, CSV or
 * Markdown. Pure functions of the data, so they are tested without a store.
 */
import Table from 'cli-table3';
import type { ShowExperiment } from '@cairn/lineage';
import { flatten } from '@cairn/runner';

export interface ShowInput {
  workspace: { params: Record<string, unknown>; metrics: Record<string, unknown> };
  experiments: ShowExperiment[];
  /** Names of experiments with a run in progress. */
  running?: Set<string>;
}

export interface Row {
  label: string;
  /** The checkpoint (or baseline) ID in full, '' for the workspace. */
  rev: string;
  kind: 'workspace' | 'baseline' | 'checkpoint_tip' | 'checkpoint' | 'parent';
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
  const byId = new Map<string, ShowExperiment['checkpoints'][number]>();
  for (const e of input.experiments) for (const c of e.checkpoints) byId.set(c.id, c);
  for (const [baseline, list] of groups) {
    rows.push({ label: baseline, rev: baseline, kind: 'baseline', experiment: '', created: '', metrics: {}, params: {} });
    list.forEach((e, gi) => {
      const lastGroup = gi === list.length - 1;
      const branch = lastGroup ? '└' : '├';
      const cont = lastGroup ? ' ' : '│';
      const shown = opts.limit !== undefined ? e.checkpoints.slice(0, opts.limit) : e.checkpoints;
      const parent = e.parent ? byId.get(e.parent) : undefined;
      const chainRows = shown.map((c) => ({ c, kind: 'checkpoint' as Row['kind'], suffix: '' }));
      if (chainRows.length > 0) chainRows[0].kind = 'checkpoint_tip';
      const all = [...chainRows];
      if (e.parent && shown.length === e.checkpoints.length) {
        all.push({ c: parent ?? { id: e.parent, step: -1, created: '', parent: null, metrics: {}, params: {}, outs: {} }, kind: 'parent', suffix: ' (parent)' });
      }
      all.forEach((r, i) => {
        const single = all.length === 1;
        const glyph = single ? '─' : i === 0 ? '╓' : i === all.length - 1 ? '╨' : '╟';
        const lead = i === 0 ? `${branch}─` : `${cont} `;
        const name = i === 0 ? ` [${e.name}]${input.running?.has(e.name) ? ' (running)' : ''}` : '';
        rows.push({
          label: `${lead}${glyph} ${r.c.id.slice(0, 7)}${name}${r.suffix}`,
          rev: r.c.id,
          kind: r.kind,
          experiment: e.name,
          created: formatCreated(r.c.created, opts.now ?? new Date()),
          metrics: flatten(r.c.metrics),
          params: flatten(r.c.params),
        });
      });
      if (e.checkpoints.length === 0) {
        rows.push({ label: `${branch}── (no checkpoints) [${e.name}]`, rev: '', kind: 'checkpoint_tip', experiment: e.name, created: '', metrics: {}, params: {} });
      }
    });
  }
  return rows;
}

/** Today's checkpoints show the time; older ones the date, as DVC does. */
export function formatCreated(iso: string, now: Date): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameDay = d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
  if (sameDay) return d.toISOString().slice(11, 19);
  return `${d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${String(d.getUTCDate()).padStart(2, '0')}, ${d.getUTCFullYear()}`;
}

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

export function renderTable(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const paint = (code: string, text: string) => (opts.color ? `${code}${text}${ANSI.reset}` : text);
  const fmt = (v: unknown) => formatValue(v, opts.precision);
  const table = new Table({
    head: ['Experiment', 'Created', ...metrics, ...params].map((h) => paint(ANSI.bold, h)),
    style: { head: [], border: [], compact: true },
    colAligns: ['left', 'left', ...metrics.map(() => 'right' as const), ...params.map(() => 'left' as const)],
  });
  for (const r of rows) {
    const label = r.kind === 'checkpoint_tip' ? paint(r.label.includes('(running)') ? ANSI.yellow : ANSI.cyan, r.label) : r.label;
    table.push([label, r.kind === 'workspace' || r.kind === 'baseline' ? '-' : r.created, ...metrics.map((k) => fmt(r.metrics[k])), ...params.map((k) => fmt(r.params[k]))]);
  }
  return table.toString();
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const lines = [['Experiment', 'rev', 'typ', 'Created', ...metrics, ...params].map(csvCell).join(',')];
  for (const r of rows) {
    const rev = r.kind === 'workspace' ? 'workspace' : r.rev.slice(0, 7);
    lines.push([r.experiment, rev, r.kind, r.kind === 'workspace' || r.kind === 'baseline' ? '' : r.created, ...metrics.map((k) => (r.metrics[k] === undefined ? '' : formatValue(r.metrics[k], opts.precision))), ...params.map((k) => (r.params[k] === undefined ? '' : formatValue(r.params[k], opts.precision)))].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export function renderMarkdown(rows: Row[], opts: RenderOptions = {}): string {
  const { metrics, params } = columns(rows, opts);
  const head = ['Experiment', 'Created', ...metrics, ...params];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${head.map(esc).join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : i < 2 + metrics.length ? ' ---: ' : ' --- ')).join('|')}|`];
  for (const r of rows) {
    lines.push(`| ${[r.label, r.kind === 'workspace' || r.kind === 'baseline' ? '-' : r.created, ...metrics.map((k) => formatValue(r.metrics[k], opts.precision)), ...params.map((k) => formatValue(r.params[k], opts.precision))].map(esc).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
