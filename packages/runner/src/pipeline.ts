/**
 * Reads a workspace's pipeline file: `cairn.yaml`, or a DVC 2.x `dvc.yaml`
 * read unchanged when `cairn.yaml` is absent. Validation is strict about
 * keys outside DVC's stage schema (they are almost always typos, and a typo
 * like `checkpont: true` silently losing checkpoints is the worst outcome),
 * and lenient about schema keys cairn does not act on (one warning line).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Document, Node as YamlNode, Pair, YAMLMap } from 'yaml';
import { CairnError } from './errors.js';
import { parseYaml } from './structured.js';

/** Params a stage depends on: `keys` empty means every key of the file. */
export interface ParamSpec {
  file: string;
  keys: string[];
}

export interface OutSpec {
  path: string;
  checkpoint: boolean;
  cache: boolean;
  persist: boolean;
}

export interface MetricSpec {
  path: string;
  cache: boolean;
}

export interface LiveSpec {
  html: boolean;
  /**
   * DVC 2.x's `live: DIR` forms name the DVCLive output directory: the
   * command gets DVCLIVE_PATH, DVCLive writes its history under DIR and its
   * summary to `DIR.json`, and the report goes to `DIR.html`.
   */
  dir?: string;
  /** With `dir`: DVCLive writes the summary, read as a metrics file (DVC's default: true). */
  summary?: boolean;
}

/**
 * One stage. Every path (deps, params files, outs, metrics, live.dir, wdir)
 * is workspace-relative, POSIX-separated and normalised with `wdir`
 * already applied, so callers never re-resolve against `wdir`; `wdir` is
 * kept only to know where to run `cmd` (absent means the workspace).
 */
export interface Stage {
  name: string;
  cmd: string;
  wdir?: string;
  deps: string[];
  params: ParamSpec[];
  outs: OutSpec[];
  metrics: MetricSpec[];
  live?: LiveSpec;
}

export interface Pipeline {
  /** Absolute path of the pipeline file read. */
  file: string;
  stages: Record<string, Stage>;
  warnings: string[];
}

/** Looked for in this order; the first that exists wins. */
export const PIPELINE_FILES = ['cairn.yaml', 'dvc.yaml'] as const;
export const DEFAULT_PARAMS_FILE = 'params.yaml';

// DVC 2.x's dvc.yaml schema (dvc/schema.py across the 2.x series, plus the
// few 3.x additions so a newer file does not fail on a typo check). A key in
// ACTED is used; a key in IGNORED is valid DVC but cairn does not act on it.
const TOP_ACTED = ['stages'];
const TOP_IGNORED = ['vars', 'plots', 'params', 'metrics', 'artifacts'];
const STAGE_ACTED = ['cmd', 'wdir', 'deps', 'params', 'outs', 'metrics', 'live'];
const STAGE_IGNORED = ['plots', 'frozen', 'always_changed', 'meta', 'desc', 'vars', 'set'];
// Template stages need DVC's interpolation engine; refusing them clearly
// beats running a half-expanded command.
const STAGE_UNSUPPORTED = ['foreach', 'do', 'matrix'];
const OUT_ACTED = ['cache', 'persist', 'checkpoint'];
const OUT_IGNORED = ['desc', 'remote', 'push', 'type', 'labels', 'meta'];
const METRIC_ACTED = ['cache'];
const METRIC_IGNORED = ['persist', 'checkpoint', ...OUT_IGNORED];
const PLOT_KEYS = [
  ...OUT_ACTED,
  ...OUT_IGNORED,
  'template',
  'x',
  'y',
  'x_label',
  'y_label',
  'title',
  'header',
];
// `summary` only means something with a DVCLive directory (DVC's form).
const LIVE_FLAGS_ACTED = ['html'];
const LIVE_FLAGS_IGNORED = ['summary', 'cache'];
const LIVE_DIR_FLAGS_ACTED = ['html', 'summary'];
const LIVE_DIR_FLAGS_IGNORED = ['cache'];
// Never valid as an out: restoring or resetting it would destroy cairn's,
// DVC's or git's own state.
const RESERVED_TOP = ['.cairn', '.dvc', '.git'];
const RESERVED_FILES = ['cairn.yaml', 'cairn.lock', 'dvc.yaml', 'dvc.lock'];

interface Problem {
  message: string;
  hint?: string;
}

class Checker {
  readonly problems: Problem[] = [];
  readonly ignored = new Set<string>();
  readonly warnings: string[] = [];
  constructor(
    readonly fname: string,
    readonly lc: LineCounter,
  ) {}

  line(node: unknown): number {
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    return range ? this.lc.linePos(range[0]).line : 1;
  }

  error(node: unknown, message: string, hint?: string): void {
    this.problems.push({ message: `${this.fname}:${this.line(node)}: ${message}`, hint });
  }

  warn(node: unknown, message: string): void {
    this.warnings.push(`${this.fname}:${this.line(node)}: ${message}`);
  }

  /** Checks a mapping's keys; returns the pairs whose key is acted on. */
  keys(map: YAMLMap, acted: readonly string[], ignored: readonly string[], where: string): Pair<YamlNode, YamlNode | null>[] {
    const keep: Pair<YamlNode, YamlNode | null>[] = [];
    for (const pair of map.items as Pair<YamlNode, YamlNode | null>[]) {
      const key = scalarString(pair.key);
      if (key === undefined) {
        this.error(pair.key ?? map, `a key ${where} must be a plain name`);
      } else if (acted.includes(key)) {
        keep.push(pair);
      } else if (ignored.includes(key)) {
        this.ignored.add(key);
      } else {
        const guess = closest(key, [...acted, ...ignored]);
        this.error(pair.key, `unknown key '${key}' ${where}`, guess ? `did you mean '${guess}'?` : undefined);
      }
    }
    return keep;
  }
}

function scalarString(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** A close spelling for "did you mean", or undefined when nothing is close. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(1, Math.min(2, Math.floor(word.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/**
 * Resolves a pipeline path against the stage's wdir, refusing anything that
 * leaves the workspace. Returns undefined (after recording the problem) on
 * a bad path.
 */
function workspacePath(ck: Checker, node: unknown, raw: string, wdir: string, what: string): string | undefined {
  if (raw.trim() === '') {
    ck.error(node, `empty path ${what}`);
    return undefined;
  }
  if (path.isAbsolute(raw) || path.win32.isAbsolute(raw)) {
    ck.error(node, `path '${raw}' ${what} is absolute; paths must stay inside the workspace`, 'use a path relative to the pipeline file');
    return undefined;
  }
  const joined = path.posix.normalize(path.posix.join(wdir, raw)).replace(/\/+$/, '') || '.';
  if (joined === '..' || joined.startsWith('../')) {
    ck.error(node, `path '${raw}' ${what} leaves the workspace`, 'use a path inside the workspace');
    return undefined;
  }
  return joined;
}

function isInside(child: string, parent: string): boolean {
  return parent === '.' || child.startsWith(parent + '/');
}

function parseBool(ck: Checker, node: YamlNode | null, key: string, where: string): boolean | undefined {
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  ck.error(node, `'${key}' ${where} must be true or false`);
  return undefined;
}

/** Reads a list of strings; null (an empty `deps:`) reads as an empty list. */
function stringList(ck: Checker, node: YamlNode | null, what: string): Array<{ value: string; node: YamlNode }> {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) {
    ck.error(node, `${what} must be a list`);
    return [];
  }
  const out: Array<{ value: string; node: YamlNode }> = [];
  for (const item of node.items as YamlNode[]) {
    const s = scalarString(item);
    if (s === undefined) ck.error(item, `each entry of ${what} must be a path`);
    else out.push({ value: s, node: item });
  }
  return out;
}

interface EntryFlags {
  path: string;
  node: YamlNode;
  flags: Map<string, { value: YamlNode | null; key: YamlNode }>;
}

/**
 * Reads DVC's out-list forms: `- path` or `- path: {flag: value}` (a
 * one-key mapping whose value may be null).
 */
function entryList(
  ck: Checker,
  node: YamlNode | null,
  what: string,
  acted: readonly string[],
  ignored: readonly string[],
): EntryFlags[] {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) {
    ck.error(node, `${what} must be a list`);
    return [];
  }
  const out: EntryFlags[] = [];
  for (const item of node.items as YamlNode[]) {
    const s = scalarString(item);
    if (s !== undefined) {
      out.push({ path: s, node: item, flags: new Map() });
      continue;
    }
    if (!isMap(item) || item.items.length !== 1) {
      ck.error(item, `each entry of ${what} must be a path or 'path: {flags}'`);
      continue;
    }
    const pair = item.items[0] as Pair<YamlNode, YamlNode | null>;
    const p = scalarString(pair.key);
    if (p === undefined) {
      ck.error(item, `each entry of ${what} must be a path or 'path: {flags}'`);
      continue;
    }
    const flags = new Map<string, { value: YamlNode | null; key: YamlNode }>();
    const v = pair.value;
    if (v !== null && !(isScalar(v) && v.value === null)) {
      if (!isMap(v)) {
        ck.error(v, `the flags of '${p}' in ${what} must be a mapping such as '{cache: false}'`);
      } else {
        for (const fp of ck.keys(v, acted, ignored, `for '${p}' in ${what}`)) {
          flags.set(scalarString(fp.key)!, { value: fp.value, key: fp.key });
        }
      }
    }
    out.push({ path: p, node: pair.key, flags });
  }
  return out;
}

function flag(ck: Checker, e: EntryFlags, name: string, dflt: boolean, where: string): boolean {
  const f = e.flags.get(name);
  if (!f) return dflt;
  return parseBool(ck, f.value ?? f.key, name, `for '${e.path}' in ${where}`) ?? dflt;
}

function parseParams(ck: Checker, node: YamlNode | null, wdir: string, where: string): ParamSpec[] {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) {
    ck.error(node, `'params' ${where} must be a list`);
    return [];
  }
  // Several entries may name the same file; merge them, and let "all keys"
  // (an empty key list) absorb any named keys.
  const byFile = new Map<string, { keys: Set<string>; all: boolean }>();
  const add = (file: string, keys: string[] | 'all') => {
    let e = byFile.get(file);
    if (!e) byFile.set(file, (e = { keys: new Set(), all: false }));
    if (keys === 'all') e.all = true;
    else for (const k of keys) e.keys.add(k);
  };
  const defaultFile = workspacePath(ck, node, DEFAULT_PARAMS_FILE, wdir, where)!;
  for (const item of node.items as YamlNode[]) {
    const key = scalarString(item);
    if (key !== undefined) {
      if (key.trim() === '') ck.error(item, `empty param key ${where}`);
      else add(defaultFile, [key]);
      continue;
    }
    if (!isMap(item)) {
      ck.error(item, `each entry of 'params' ${where} must be a key or 'file.yaml: [keys]'`);
      continue;
    }
    for (const pair of item.items as Pair<YamlNode, YamlNode | null>[]) {
      const f = scalarString(pair.key);
      if (f === undefined) {
        ck.error(pair.key ?? item, `a params file name ${where} must be a path`);
        continue;
      }
      const file = workspacePath(ck, pair.key, f, wdir, `in 'params' ${where}`);
      if (file === undefined) continue;
      const v = pair.value;
      if (v === null || (isScalar(v) && v.value === null)) {
        add(file, 'all');
        continue;
      }
      const keys = stringList(ck, v, `the keys of '${f}' in 'params' ${where}`).map((k) => k.value);
      // DVC tracks the whole file when its key list is empty, too.
      add(file, keys.length === 0 ? 'all' : keys);
    }
  }
  return [...byFile].map(([file, e]) => ({ file, keys: e.all ? [] : [...e.keys] }));
}

function parseLive(ck: Checker, node: YamlNode | null, wdir: string, where: string): LiveSpec | undefined {
  if (node === null || (isScalar(node) && node.value === null)) return undefined;
  if (isScalar(node) && typeof node.value === 'boolean') return node.value ? { html: true } : undefined;
  const dirName = scalarString(node);
  if (dirName !== undefined) {
    const dir = workspacePath(ck, node, dirName, wdir, `in 'live' ${where}`);
    return dir === undefined ? undefined : { html: true, summary: true, dir };
  }
  if (!isMap(node)) {
    ck.error(node, `'live' ${where} must be a mapping such as '{html: true}'`);
    return undefined;
  }
  // cairn's form is `live: {html: true}`; DVC 2.x's is `live: {DIR: {html:
  // true, summary: true}}`. A flag takes a boolean and a directory takes a
  // mapping (or nothing), which tells the two apart.
  const pairs = node.items as Pair<YamlNode, YamlNode | null>[];
  const dvcForm =
    pairs.length === 1 && (pairs[0].value === null || isMap(pairs[0].value) || (isScalar(pairs[0].value) && pairs[0].value.value === null));
  if (dvcForm) {
    const pair = pairs[0];
    const dir = workspacePath(ck, pair.key, scalarString(pair.key) ?? '', wdir, `in 'live' ${where}`);
    const flags = { html: true, summary: true };
    if (isMap(pair.value)) {
      for (const fp of ck.keys(pair.value, LIVE_DIR_FLAGS_ACTED, LIVE_DIR_FLAGS_IGNORED, `in 'live' ${where}`)) {
        const k = scalarString(fp.key) as 'html' | 'summary';
        flags[k] = parseBool(ck, fp.value, k, `in 'live' ${where}`) ?? flags[k];
      }
    }
    return dir === undefined ? undefined : { ...flags, dir };
  }
  let html = true;
  for (const fp of ck.keys(node, LIVE_FLAGS_ACTED, LIVE_FLAGS_IGNORED, `in 'live' ${where}`)) {
    html = parseBool(ck, fp.value, 'html', `in 'live' ${where}`) ?? html;
  }
  return { html };
}

/** DVCLive's summary file of a live directory: `DIR.json` beside it. */
export function liveSummaryPath(dir: string): string {
  return `${dir}.json`;
}

function parseStage(ck: Checker, name: string, nameNode: YamlNode, node: YamlNode | null, isDvc: boolean): Stage | undefined {
  const where = `in stage '${name}'`;
  if (!isMap(node)) {
    ck.error(node ?? nameNode, `stage '${name}' must be a mapping with at least 'cmd'`);
    return undefined;
  }
  for (const pair of node.items as Pair<YamlNode, YamlNode | null>[]) {
    const k = scalarString(pair.key);
    if (k !== undefined && STAGE_UNSUPPORTED.includes(k)) {
      ck.error(pair.key, `'${k}' ${where}: template stages are not supported by cairn`, 'write each stage out in full');
      return undefined;
    }
  }
  const fields = new Map<string, Pair<YamlNode, YamlNode | null>>();
  for (const pair of ck.keys(node, STAGE_ACTED, STAGE_IGNORED, where)) fields.set(scalarString(pair.key)!, pair);

  let wdir = '.';
  const wdirPair = fields.get('wdir');
  if (wdirPair) {
    const raw = scalarString(wdirPair.value);
    if (raw === undefined) ck.error(wdirPair.value ?? wdirPair.key, `'wdir' ${where} must be a path`);
    else wdir = workspacePath(ck, wdirPair.value, raw, '.', `in 'wdir' ${where}`) ?? '.';
  }

  let cmd: string | undefined;
  const cmdPair = fields.get('cmd');
  if (!cmdPair) {
    ck.error(nameNode, `stage '${name}' has no 'cmd'`, "add 'cmd: <command to run>'");
  } else if (isSeq(cmdPair.value)) {
    const parts = stringList(ck, cmdPair.value, `'cmd' ${where}`).map((p) => p.value);
    if (parts.length === 0) ck.error(cmdPair.value, `'cmd' ${where} is empty`);
    else cmd = parts.join(' && ');
  } else {
    const s = scalarString(cmdPair.value);
    if (s === undefined || s.trim() === '') ck.error(cmdPair.value ?? cmdPair.key, `'cmd' ${where} must be a non-empty command`);
    else cmd = s;
  }
  if (cmd !== undefined && isDvc && /\$\{[^}]*\}/.test(cmd) && !/\\\$\{/.test(cmd)) {
    ck.warn(cmdPair!.value, `'cmd' ${where} uses \${...}; cairn does not do DVC templating, the shell sees it as written`);
  }

  const deps: string[] = [];
  for (const d of stringList(ck, fields.get('deps')?.value ?? null, `'deps' ${where}`)) {
    const p = workspacePath(ck, d.node, d.value, wdir, `in 'deps' ${where}`);
    if (p !== undefined && !deps.includes(p)) deps.push(p);
  }
  const params = fields.has('params') ? parseParams(ck, fields.get('params')!.value, wdir, where) : [];

  const outs: OutSpec[] = [];
  const outNodes = new Map<string, YamlNode>();
  for (const e of entryList(ck, fields.get('outs')?.value ?? null, `'outs' ${where}`, OUT_ACTED, OUT_IGNORED)) {
    const p = workspacePath(ck, e.node, e.path, wdir, `in 'outs' ${where}`);
    const checkpoint = flag(ck, e, 'checkpoint', false, `'outs' ${where}`);
    const cache = flag(ck, e, 'cache', true, `'outs' ${where}`);
    const persist = flag(ck, e, 'persist', false, `'outs' ${where}`);
    if (p === undefined) continue;
    outs.push({ path: p, checkpoint, cache, persist });
    outNodes.set(p, e.node);
  }
  const metrics: MetricSpec[] = [];
  for (const e of entryList(ck, fields.get('metrics')?.value ?? null, `'metrics' ${where}`, METRIC_ACTED, METRIC_IGNORED)) {
    const p = workspacePath(ck, e.node, e.path, wdir, `in 'metrics' ${where}`);
    const cache = flag(ck, e, 'cache', true, `'metrics' ${where}`);
    if (p === undefined) continue;
    metrics.push({ path: p, cache });
    outNodes.set(p, e.node);
  }
  const plotsPair = node.items.find((p) => scalarString(p.key) === 'plots') as Pair<YamlNode, YamlNode | null> | undefined;
  if (plotsPair) {
    // Checked only for typos: plots as a whole is already in the warning,
    // so its own flags should not be listed again.
    const before = new Set(ck.ignored);
    entryList(ck, plotsPair.value, `'plots' ${where}`, [], PLOT_KEYS);
    ck.ignored.clear();
    for (const k of before) ck.ignored.add(k);
  }

  const live = fields.has('live') ? parseLive(ck, fields.get('live')!.value, wdir, where) : undefined;
  // DVC read DVCLive's summary as a metrics file; so does every reader of
  // stage.metrics here (checkpoints, the workspace row, diff, apply).
  if (live?.dir !== undefined && live.summary) {
    const summary = liveSummaryPath(live.dir);
    if (!metrics.some((m) => m.path === summary)) {
      metrics.push({ path: summary, cache: false });
      outNodes.set(summary, fields.get('live')!.key!);
    }
  }

  // Outs (metrics files included) must be disjoint from each other and from
  // every dep: an out that is or holds a dep would be clobbered on restore,
  // and an out inside a dep changes that dep at every checkpoint, so a
  // rerun could never resume.
  const depPaths = [...deps, ...params.map((p) => p.file)];
  const outPaths = [...outs.map((o) => o.path), ...metrics.map((m) => m.path)];
  for (let i = 0; i < outPaths.length; i++) {
    const o = outPaths[i];
    const n = outNodes.get(o);
    const base = path.posix.basename(o);
    if (o === '.' || RESERVED_TOP.some((r) => o === r || isInside(o, r)) || (RESERVED_FILES.includes(base) && !o.includes('/'))) {
      ck.error(n, `out '${o}' ${where} is the workspace or one of cairn's or DVC's own files`);
      continue;
    }
    for (let j = 0; j < i; j++) {
      const other = outPaths[j];
      if (o === other) ck.error(n, `'${o}' is listed twice in the outs and metrics ${where}`);
      else if (isInside(o, other) || isInside(other, o)) ck.error(n, `outs '${other}' and '${o}' overlap ${where}`);
    }
    for (const d of depPaths) {
      if (d === o) ck.error(n, `out '${o}' is also a dep ${where}`, 'a file is either an input (deps, params) or an output (outs, metrics)');
      else if (isInside(d, o)) ck.error(n, `dep '${d}' is inside out '${o}' ${where}`);
      else if (isInside(o, d)) ck.error(n, `out '${o}' is inside dep '${d}' ${where}`, 'list the dep files or folders that do not hold outs');
    }
  }

  if (cmd === undefined) return undefined;
  const stage: Stage = { name, cmd, deps, params, outs, metrics };
  if (wdir !== '.') stage.wdir = wdir;
  if (live) stage.live = live;
  return stage;
}

const MAX_EXPANDED_NODES = 100_000;

/**
 * Replaces aliases by copies of their anchored nodes and applies `<<`
 * merge keys (which ruamel, DVC's parser, supports), so the checks below
 * see plain mappings; copies keep their source range, so a problem in one
 * is reported at the anchor's line. Bounded, so an alias bomb is an error
 * rather than a hang.
 */
function expandAliases(doc: Document, fname: string): void {
  let budget = MAX_EXPANDED_NODES;
  const visit = (node: unknown, depth: number): unknown => {
    if (--budget < 0 || depth > 100) throw new CairnError('BAD_INPUT', `${fname}: too many or too deeply nested YAML aliases`);
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (!target) throw new CairnError('BAD_INPUT', `${fname}: unknown YAML alias '*${node.source}'`);
      return visit(target.clone(), depth + 1);
    }
    if (isSeq(node)) {
      node.items = node.items.map((item) => visit(item, depth + 1));
    } else if (isMap(node)) {
      const own: Pair[] = [];
      const merged: Pair[] = [];
      for (const pair of node.items as Pair[]) {
        const isMerge = isScalar(pair.key) && pair.key.value === '<<' && (isAlias(pair.value) || isSeq(pair.value));
        pair.value = visit(pair.value, depth + 1);
        if (!isMerge) {
          own.push(pair);
          continue;
        }
        const sources = isSeq(pair.value) ? (pair.value.items as unknown[]) : [pair.value];
        for (const src of sources) if (isMap(src)) merged.push(...(src.items as Pair[]).filter(isPair));
      }
      // Explicit keys win over merged ones, and earlier merge sources over later.
      const seen = new Set(own.map((p) => scalarString(p.key)));
      for (const p of merged) {
        const k = scalarString(p.key);
        if (seen.has(k)) continue;
        seen.add(k);
        own.push(p);
      }
      node.items = own;
    }
    return node;
  };
  doc.contents = visit(doc.contents, 0) as typeof doc.contents;
}

/** Validates and reads pipeline YAML text; `fname` names it in messages. */
export function parsePipeline(text: string, fname: string, filePath: string = fname): Pipeline {
  const lc = new LineCounter();
  const doc = parseYaml(text, { keepSourceTokens: true, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lc.linePos(e.pos[0]).line;
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new CairnError('BAD_INPUT', `${fname}:${line}: malformed YAML: ${msg}`);
  }
  expandAliases(doc, fname);
  const isDvc = path.basename(fname) === 'dvc.yaml';
  const ck = new Checker(fname, lc);
  const stages: Record<string, Stage> = {};
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    throw new CairnError('BAD_INPUT', `${fname}:1: no stages`, { hint: "add a 'stages:' mapping with at least one stage" });
  }
  if (!isMap(root)) {
    throw new CairnError('BAD_INPUT', `${fname}:${ck.line(root)}: the file must be a mapping with a 'stages' key`);
  }
  const top = ck.keys(root, TOP_ACTED, TOP_IGNORED, 'at the top level');
  const stagesPair = top.find((p) => scalarString(p.key) === 'stages');
  if (!stagesPair) {
    ck.error(root, 'no stages', "add a 'stages:' mapping with at least one stage");
  } else if (!isMap(stagesPair.value) || stagesPair.value.items.length === 0) {
    ck.error(stagesPair.key, 'no stages', "'stages' must map stage names to stages");
  } else {
    for (const pair of stagesPair.value.items as Pair<YamlNode, YamlNode | null>[]) {
      const name = scalarString(pair.key);
      if (name === undefined || name.trim() === '' || /[/\\:\0]/.test(name)) {
        ck.error(pair.key ?? stagesPair.value, `bad stage name '${name ?? ''}': use letters, digits, '-', '_' or '.'`);
        continue;
      }
      const stage = parseStage(ck, name, pair.key, pair.value, isDvc);
      if (stage) stages[name] = stage;
    }
  }
  if (ck.problems.length > 0) {
    const [first, ...rest] = ck.problems;
    const more = rest.length > 0 ? `${rest.length} more problem${rest.length > 1 ? 's' : ''} in ${fname}, the next: ${rest[0].message}` : undefined;
    throw new CairnError('BAD_INPUT', first.message, { hint: first.hint ?? more });
  }
  const warnings = [...ck.warnings];
  if (ck.ignored.size > 0) {
    warnings.unshift(`${fname}: ignoring keys cairn does not act on: ${[...ck.ignored].sort().join(', ')}`);
  }
  return { file: filePath, stages, warnings };
}

/**
 * Reads `cairn.yaml`, else `dvc.yaml`, from the workspace. Throws
 * CairnError NOT_FOUND when neither exists, BAD_INPUT when invalid.
 */
export async function loadPipeline(workspaceDir: string): Promise<Pipeline> {
  for (const name of PIPELINE_FILES) {
    const file = path.resolve(workspaceDir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      throw new CairnError('BAD_INPUT', `${name}: cannot read: ${(err as Error).message}`, { cause: err });
    }
    return parsePipeline(text, name, file);
  }
  throw new CairnError('NOT_FOUND', `no cairn.yaml or dvc.yaml in ${workspaceDir}`, {
    hint: "create one, or run 'cairn init --example' for a sample",
  });
}

/**
 * Picks the stage to run: the named one; else the only stage; else the one
 * stage with checkpoint outs.
 */
export function selectStage(pipeline: Pipeline, name?: string): Stage {
  const names = Object.keys(pipeline.stages);
  const fname = path.basename(pipeline.file);
  if (name !== undefined) {
    const stage = Object.hasOwn(pipeline.stages, name) ? pipeline.stages[name] : undefined;
    if (!stage) throw new CairnError('NOT_FOUND', `no stage '${name}' in ${fname} (stages: ${names.join(', ')})`);
    return stage;
  }
  if (names.length === 1) return pipeline.stages[names[0]];
  const withCheckpoints = names.filter((n) => pipeline.stages[n].outs.some((o) => o.checkpoint));
  if (withCheckpoints.length === 1) return pipeline.stages[withCheckpoints[0]];
  const which = withCheckpoints.length > 1 ? `several stages with checkpoint outs: ${withCheckpoints.join(', ')}` : `several stages: ${names.join(', ')}`;
  throw new CairnError('BAD_INPUT', `${fname} has ${which}; name the stage to run`, {
    hint: `for example 'cairn exp run ${withCheckpoints[0] ?? names[0]}'`,
  });
}
