/**
 * Reading and writing params files (YAML or JSON). Writes edit the file in
 * place: when every target already exists as a scalar or a one-line
 * collection, only those values' characters change, so comments, spacing,
 * quoting and key order stay byte for byte; otherwise (a new key, a block
 * collection replaced) the yaml Document is re-serialised, which keeps
 * comments and block/flow style but may normalise spacing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Document, Scalar, isAlias, isCollection, isMap, isPair, isScalar, isSeq, stringify } from 'yaml';
import type { Node as YamlNode, Pair } from 'yaml';
import { CairnError } from './errors.js';
import type { ParamSpec } from './pipeline.js';
import { DEFAULT_PARAMS_FILE } from './pipeline.js';
import { writeFileDurable } from './durable.js';
import { formatOf, parseStructured, parseYaml, parseYamlValue, splitAssignment } from './structured.js';

export type { ParamSpec } from './pipeline.js';

/** Param values per file (workspace-relative), then per dotted key. */
export type ParamValues = Record<string, Record<string, unknown>>;

export interface SetAssignment {
  /** Present when the argument named a file (`other.yaml:lr=0.1`). */
  file?: string;
  key: string;
  value: unknown;
  /** The value as parsed YAML, kept so a flow list stays a flow list. */
  node: YamlNode | null;
}

type PathSeg = string | number;

function resolveInWorkspace(workspaceDir: string, file: string): string {
  const abs = path.resolve(workspaceDir, file);
  const rel = path.relative(path.resolve(workspaceDir), abs);
  if (rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    throw new CairnError('BAD_INPUT', `params file '${file}' is outside the workspace`);
  }
  return abs;
}

async function readText(abs: string, display: string): Promise<string | undefined> {
  try {
    return await readFile(abs, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CairnError('BAD_INPUT', `${display}: cannot read: ${(err as Error).message}`, { cause: err });
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Looks a dotted key up in a plain value. At each level a key that matches
 * the whole remaining dotted string wins, so a literal "a.b" key is still
 * reachable; numeric segments index lists.
 */
export function getParam(obj: unknown, key: string): { found: boolean; value?: unknown } {
  let cur: unknown = obj;
  let rest = key;
  while (rest !== '') {
    if (isObj(cur)) {
      if (Object.hasOwn(cur, rest)) return { found: true, value: cur[rest] };
      const dot = rest.indexOf('.');
      const seg = dot < 0 ? rest : rest.slice(0, dot);
      if (!Object.hasOwn(cur, seg)) return { found: false };
      cur = cur[seg];
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    } else if (Array.isArray(cur)) {
      const dot = rest.indexOf('.');
      const seg = dot < 0 ? rest : rest.slice(0, dot);
      if (!/^\d+$/.test(seg) || Number(seg) >= cur.length) return { found: false };
      cur = cur[Number(seg)];
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    } else {
      return { found: false };
    }
  }
  return { found: true, value: cur };
}

/**
 * Reads the requested params. A spec with no keys yields every top-level
 * key of its file. Missing files or keys are BAD_INPUT unless
 * `allowMissing`, when they are left out.
 */
export async function readParams(
  workspaceDir: string,
  specs: ParamSpec[],
  opts: { allowMissing?: boolean } = {},
): Promise<ParamValues> {
  const out: ParamValues = {};
  for (const spec of specs) {
    const abs = resolveInWorkspace(workspaceDir, spec.file);
    const text = await readText(abs, spec.file);
    if (text === undefined) {
      if (opts.allowMissing) continue;
      throw new CairnError('BAD_INPUT', `params file '${spec.file}' not found`, {
        hint: spec.keys.length > 0 ? `the stage reads ${spec.keys.join(', ')} from it` : undefined,
      });
    }
    const data = parseStructured(text, spec.file, formatOf(spec.file, 'params'), 'params');
    const values: Record<string, unknown> = out[spec.file] ?? {};
    if (spec.keys.length === 0) {
      Object.assign(values, data);
    } else {
      const missing: string[] = [];
      for (const key of spec.keys) {
        const r = getParam(data, key);
        if (r.found) values[key] = r.value;
        else missing.push(key);
      }
      if (missing.length > 0 && !opts.allowMissing) {
        throw new CairnError('BAD_INPUT', `${spec.file}: missing param${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`, {
          hint: `add ${missing.length > 1 ? 'them' : 'it'} to ${spec.file}, or set ${missing.length > 1 ? 'them' : 'it'} with -S ${missing[0]}=VALUE`,
        });
      }
    }
    out[spec.file] = values;
  }
  return out;
}

const PARAMS_EXT = /\.(ya?ml|json|toml|py)$/i;

/**
 * Parses one `-S` argument: `key=value` or, as DVC 2.x accepts,
 * `file.yaml:key=value`. The value is read as YAML.
 */
export function parseSetArg(arg: string): SetAssignment {
  const eq = arg.indexOf('=');
  const colon = arg.indexOf(':');
  let file: string | undefined;
  let body = arg;
  // Only a prefix that looks like a params file counts, so a key that
  // happens to hold ':' is not misread.
  if (eq > 0 && colon > 0 && colon < eq && PARAMS_EXT.test(arg.slice(0, colon))) {
    file = arg.slice(0, colon);
    body = arg.slice(colon + 1);
  }
  const { key, raw } = splitAssignment(body, 'bad -S', '-S lr=0.3');
  const { value, node } = parseYamlValue(raw, `-S ${key}`);
  return file === undefined ? { key, value, node } : { file, key, value, node };
}

/** Groups `-S` arguments by the file they set (default params.yaml). */
export function groupSetArgs(args: string[], defaultFile: string = DEFAULT_PARAMS_FILE): Map<string, SetAssignment[]> {
  const groups = new Map<string, SetAssignment[]>();
  for (const arg of args) {
    const a = parseSetArg(arg);
    const file = a.file ?? defaultFile;
    let list = groups.get(file);
    if (!list) groups.set(file, (list = []));
    list.push(a);
  }
  return groups;
}

/**
 * Applies `key=value` assignments (values as YAML) to one params file,
 * creating the file or missing keys as needed. Returns the values set,
 * by key.
 */
export async function setParams(workspaceDir: string, file: string, assignments: string[]): Promise<Record<string, unknown>> {
  const parsed = assignments.map(parseSetArg);
  for (const a of parsed) {
    if (a.file !== undefined && path.normalize(a.file) !== path.normalize(file)) {
      throw new CairnError('BAD_INPUT', `-S ${a.file}:${a.key} names '${a.file}', not '${file}'`);
    }
  }
  await editParams(workspaceDir, file, parsed.map((a) => ({ key: a.key, value: a.value, node: a.node })), undefined);
  const result: Record<string, unknown> = {};
  for (const a of parsed) result[a.key] = a.value;
  return result;
}

/**
 * The dotted keys of `keys` that `file` does not hold (all of them when the
 * file does not exist): what `-S` would add rather than change.
 */
export async function missingParamKeys(workspaceDir: string, file: string, keys: string[]): Promise<string[]> {
  const text = await readText(resolveInWorkspace(workspaceDir, file), file);
  const data = text === undefined ? {} : parseStructured(text, file, formatOf(file, 'params'), 'params');
  return keys.filter((k) => !getParam(data, k).found);
}

/**
 * Writes param values back (e.g. restoring a checkpoint's params), keyed
 * by dotted key as readParams returns them. With `exact`, top-level keys
 * not in `values` are removed too (restoring a whole-file params spec).
 * Returns whether the file changed.
 */
export async function writeParamsValues(
  workspaceDir: string,
  file: string,
  values: Record<string, unknown>,
  opts: { exact?: boolean } = {},
): Promise<boolean> {
  const entries = Object.entries(values).map(([key, value]) => ({ key, value, node: null }));
  return editParams(workspaceDir, file, entries, opts.exact ? new Set(Object.keys(values)) : undefined);
}

interface Entry {
  key: string;
  value: unknown;
  node: YamlNode | null;
}

function pairKey(p: Pair): string | undefined {
  const k = p.key;
  if (isScalar(k) && (typeof k.value === 'string' || typeof k.value === 'number' || typeof k.value === 'boolean')) return String(k.value);
  return undefined;
}

/**
 * Finds a dotted key in a parsed document: the node when present, and the
 * path to give setIn (the real key values, so `1:` matches '1').
 */
function locate(
  root: unknown,
  key: string,
): { node?: YamlNode; path: PathSeg[]; blockedAt?: string; nullAt?: boolean; remaining?: string[] } {
  const segs: PathSeg[] = [];
  let cur: unknown = root;
  let rest = key;
  const done: string[] = [];
  while (rest !== '') {
    if (isMap(cur)) {
      const pairs = cur.items as Pair[];
      let pair = pairs.find((p) => pairKey(p) === rest);
      let seg = rest;
      if (pair) rest = '';
      else {
        const dot = rest.indexOf('.');
        seg = dot < 0 ? rest : rest.slice(0, dot);
        pair = pairs.find((p) => pairKey(p) === seg);
        rest = dot < 0 ? '' : rest.slice(dot + 1);
        if (!pair) return { path: [...segs, seg, ...(rest === '' ? [] : rest.split('.'))] };
      }
      segs.push((pair.key as Scalar).value as PathSeg);
      done.push(seg);
      cur = pair.value;
    } else if (isSeq(cur)) {
      const dot = rest.indexOf('.');
      const seg = dot < 0 ? rest : rest.slice(0, dot);
      rest = dot < 0 ? '' : rest.slice(dot + 1);
      if (!/^\d+$/.test(seg) || Number(seg) > cur.items.length) return { path: segs, blockedAt: [...done, seg].join('.') };
      segs.push(Number(seg));
      done.push(seg);
      if (Number(seg) === cur.items.length) return { path: [...segs, ...(rest === '' ? [] : rest.split('.'))] };
      cur = cur.items[Number(seg)];
    } else if (cur === null || cur === undefined || (isScalar(cur) && cur.value === null)) {
      // An empty value (`model:`) or an empty document: the rest of the key
      // is created as mappings in its place.
      return { path: segs, nullAt: true, remaining: rest.split('.') };
    } else {
      return { path: segs, blockedAt: done.join('.') };
    }
  }
  return { node: (cur ?? undefined) as YamlNode | undefined, path: segs };
}

/** One-line text for a value spliced into existing YAML or JSON. */
function inlineText(value: unknown, old: YamlNode, format: 'json' | 'yaml', padding: boolean): string {
  if (format === 'json') return JSON.stringify(value);
  if (typeof value === 'string') {
    if (value.includes('\n') || value.includes('\r')) return JSON.stringify(value);
    if (isScalar(old) && (old.type === 'QUOTE_DOUBLE' || old.type === 'QUOTE_SINGLE')) {
      const s = new Scalar(value);
      s.type = old.type;
      return new Document(s).toString({ lineWidth: 0 }).trimEnd();
    }
  }
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0, flowCollectionPadding: padding }).trimEnd();
}

function spliceable(node: YamlNode | undefined): node is YamlNode {
  if (!node || isAlias(node) || !node.range) return false;
  // An anchor or explicit tag sits outside the node's range and might not
  // fit the new value; parsed nodes carry `tag` only when it was explicit.
  if (node.anchor || node.tag) return false;
  if (isScalar(node)) return node.type !== 'BLOCK_LITERAL' && node.type !== 'BLOCK_FOLDED';
  return isCollection(node) && node.flow === true;
}

function sameValue(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

async function editParams(workspaceDir: string, file: string, entries: Entry[], keepTop: Set<string> | undefined): Promise<boolean> {
  const abs = resolveInWorkspace(workspaceDir, file);
  const text = await renderEdit(file, (await readText(abs, file)) ?? '', entries, keepTop);
  if (text === undefined) return false;
  await writeFileDurable(abs, text);
  return true;
}

/**
 * The text `writeParamsValues` would write, without writing it: undefined
 * when the file already holds the values. `original` is the file's current
 * text (empty when absent). Lets `exp apply` check and stage every file
 * before it changes any.
 */
export async function renderParamsValues(
  file: string,
  original: string,
  values: Record<string, unknown>,
  opts: { exact?: boolean } = {},
): Promise<string | undefined> {
  const entries = Object.entries(values).map(([key, value]) => ({ key, value, node: null }));
  return renderEdit(file, original, entries, opts.exact ? new Set(Object.keys(values)) : undefined);
}

async function renderEdit(file: string, original: string, entries: Entry[], keepTop: Set<string> | undefined): Promise<string | undefined> {
  const format = formatOf(file, 'params');
  // Validates the file (and reports a malformed one with its line) before
  // any edit is attempted.
  const before = parseStructured(original, file, format, 'params');
  const wanted = (data: Record<string, unknown>): boolean =>
    entries.every((e) => {
      const r = getParam(data, e.key);
      return r.found && sameValue(r.value, e.value);
    }) && (keepTop === undefined || Object.keys(data).every((k) => keepTop.has(k)));
  if (wanted(before)) return undefined;

  const doc = parseYaml(original, { keepSourceTokens: true, prettyErrors: false });
  const text = doc.errors.length === 0 ? spliceEdit(original, doc, entries, keepTop, format) : undefined;
  if (text !== undefined) {
    let ok = false;
    try {
      ok = wanted(parseStructured(text, file, format, 'params'));
    } catch {
      ok = false;
    }
    if (ok) return text;
  }
  return format === 'json' ? jsonEdit(original, before, entries, keepTop, file) : yamlEdit(original, doc, entries, keepTop, file);
}

/** Replaces only the characters of each changed value; undefined when that cannot express the edit. */
function spliceEdit(text: string, doc: Document, entries: Entry[], keepTop: Set<string> | undefined, format: 'json' | 'yaml'): string | undefined {
  if (keepTop !== undefined && isMap(doc.contents) && (doc.contents.items as Pair[]).some((p) => !keepTop.has(pairKey(p) ?? ''))) {
    return undefined;
  }
  const edits: Array<{ start: number; end: number; text: string }> = [];
  for (const e of entries) {
    const loc = locate(doc.contents, e.key);
    if (!loc.node) return undefined;
    if (sameValue(loc.node.toJS(doc), e.value)) continue;
    if (!spliceable(loc.node)) return undefined;
    const [start, end] = loc.node.range!;
    // Match the spacing of the collection replaced, else of the file.
    const padding = isCollection(loc.node) ? /^[[{]\s/.test(text.slice(start, start + 2)) : flowPadding(text);
    edits.push({ start, end, text: inlineText(e.value, loc.node, format, padding) });
  }
  edits.sort((a, b) => b.start - a.start);
  for (let i = 1; i < edits.length; i++) if (edits[i].end > edits[i - 1].start) return undefined;
  let out = text;
  for (const ed of edits) out = out.slice(0, ed.start) + ed.text + out.slice(ed.end);
  return out;
}

function setBlock(node: YamlNode): void {
  if (!isCollection(node)) return;
  node.flow = false;
  for (const item of node.items) {
    if (isCollection(item)) setBlock(item);
    else if (isPair(item) && isCollection(item.value)) setBlock(item.value as YamlNode);
  }
}

/** Whether the file writes flow collections as `[ a ]` rather than `[a]`. */
function flowPadding(text: string): boolean {
  const padded = (text.match(/[[{] [^\s\]}]/g) ?? []).length;
  const tight = (text.match(/[[{][^\s\]}]/g) ?? []).length;
  return padded > tight;
}

function yamlEdit(original: string, doc: Document, entries: Entry[], keepTop: Set<string> | undefined, file: string): string {
  if (doc.errors.length > 0) doc = new Document({});
  if (doc.contents !== null && !isMap(doc.contents) && !(isScalar(doc.contents) && doc.contents.value === null)) {
    throw new CairnError('BAD_INPUT', `${file}: params file must hold a mapping of names to values`);
  }
  for (const e of entries) {
    const loc = locate(doc.contents, e.key);
    if (loc.blockedAt !== undefined) {
      throw new CairnError('BAD_INPUT', `${file}: cannot set '${e.key}': '${loc.blockedAt || e.key}' is not a mapping`);
    }
    if (loc.node && sameValue(loc.node.toJS(doc), e.value)) continue;
    const node = e.node ?? doc.createNode(e.value);
    if (loc.nullAt) {
      let nested: unknown = node;
      for (const seg of [...loc.remaining!].reverse()) nested = { [seg]: nested };
      const created = doc.createNode(nested);
      if (loc.path.length === 0) doc.contents = created as typeof doc.contents;
      else doc.setIn(loc.path, created);
      continue;
    }
    // Reusing a scalar's node keeps its comments; only collections need a new node.
    if (loc.node && isScalar(loc.node) && isScalar(node)) {
      loc.node.value = node.value;
      if (typeof node.value !== 'string' || (loc.node.type !== 'QUOTE_DOUBLE' && loc.node.type !== 'QUOTE_SINGLE')) loc.node.type = node.type;
      loc.node.format = node.format;
      continue;
    }
    // A block list or map given a new value stays block style, as the
    // file's author wrote it, even when the value came as `[a, b]`.
    if (loc.node && isCollection(loc.node) && !loc.node.flow && isCollection(node)) setBlock(node);
    doc.setIn(loc.path, node);
  }
  if (keepTop !== undefined && isMap(doc.contents)) {
    doc.contents.items = (doc.contents.items as Pair[]).filter((p) => keepTop.has(pairKey(p) ?? ''));
  }
  return doc.toString({ flowCollectionPadding: flowPadding(original) });
}

function setPlain(obj: Record<string, unknown>, key: string, value: unknown, file: string): void {
  let cur: unknown = obj;
  let rest = key;
  const done: string[] = [];
  for (;;) {
    if (isObj(cur)) {
      if (Object.hasOwn(cur, rest)) {
        cur[rest] = value;
        return;
      }
      const dot = rest.indexOf('.');
      const seg = dot < 0 ? rest : rest.slice(0, dot);
      if (dot < 0) {
        cur[seg] = value;
        return;
      }
      if (!Object.hasOwn(cur, seg)) cur[seg] = {};
      cur = cur[seg];
      rest = rest.slice(dot + 1);
      done.push(seg);
    } else if (Array.isArray(cur)) {
      const dot = rest.indexOf('.');
      const seg = dot < 0 ? rest : rest.slice(0, dot);
      if (!/^\d+$/.test(seg) || Number(seg) > cur.length) break;
      if (dot < 0) {
        cur[Number(seg)] = value;
        return;
      }
      if (cur[Number(seg)] === undefined) cur[Number(seg)] = {};
      cur = cur[Number(seg)];
      rest = rest.slice(dot + 1);
      done.push(seg);
    } else break;
  }
  throw new CairnError('BAD_INPUT', `${file}: cannot set '${key}': '${done.join('.')}' is not a mapping`);
}

function jsonEdit(text: string, data: Record<string, unknown>, entries: Entry[], keepTop: Set<string> | undefined, file: string): string {
  const obj = structuredClone(data);
  for (const e of entries) setPlain(obj, e.key, e.value, file);
  if (keepTop !== undefined) for (const k of Object.keys(obj)) if (!keepTop.has(k)) delete obj[k];
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? '  ';
  return JSON.stringify(obj, null, indent) + '\n';
}
