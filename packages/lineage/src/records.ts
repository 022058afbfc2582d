import { CairnError, isCairnError, type ObjectId, type Store } from '@cairn/store';
import { checkWorkspacePath, pathsOverlap } from './workspace-path.js';

/*
 * The records lineage keeps in the store. Each body carries `kind` and
 * `version` so any reader (fsck, export, a future cairn) can tell them apart
 * from other records without context. Store IDs are the hash of the
 * canonical encoding, so equal bodies are one record.
 */

export const CHECKPOINT_KIND = 'cairn.checkpoint';
export const EXPERIMENT_KIND = 'cairn.experiment';
export const BASELINE_KIND = 'cairn.baseline';
export const RECORD_VERSION = 1;

export type EntryKind = 'file' | 'tree';

/** A path captured in the store: `id` is a file manifest or tree ID. */
export interface DepEntry {
  id: ObjectId;
  size: number;
  kind: EntryKind;
}

export interface OutEntry extends DepEntry {
  /** Whether the out is a `checkpoint: true` out (kept in place between runs). */
  checkpoint: boolean;
}

/**
 * Params by the file they were read from, each nested as in that file:
 * `{ "params.yaml": { lr: 0.1, train: { epochs: 5 } } }`. Keyed by file so
 * `exp apply` knows where to write each value back; `displayParams` gives
 * the flat form `exp show` prints.
 */
export type Params = Record<string, Record<string, unknown>>;

/** Metrics as read from the metrics files and signals, nested. */
export type Metrics = Record<string, unknown>;

export interface CheckpointRecord {
  kind: typeof CHECKPOINT_KIND;
  version: typeof RECORD_VERSION;
  /** The experiment's name when this checkpoint was made (renames do not rewrite it). */
  experiment: string;
  stage: string;
  step: number;
  /** ISO-8601 UTC, whole seconds: `2026-11-26T13:21:04Z`. */
  created: string;
  parent: ObjectId | null;
  outs: Record<string, OutEntry>;
  deps: Record<string, DepEntry>;
  params: Params;
  metrics: Metrics;
  /**
   * The stage's metrics files (the live summary included) as they were at
   * this checkpoint, so `exp apply` and `exp run --rev` can put them back
   * with the model: `metrics` holds only their values. Absent in records
   * written before cairn kept them, and when no metrics file existed.
   */
  metricsFiles?: Record<string, DepEntry>;
  cmd: string;
}

/**
 * What the ref `exp/<name>` points at. Records are immutable and
 * experiments grow and get renamed, so the mutable part (the tip) lives in
 * this small record and the name lives only in the ref.
 */
export interface ExperimentState {
  kind: typeof EXPERIMENT_KIND;
  version: typeof RECORD_VERSION;
  /** Newest checkpoint, or null before the first one is recorded. */
  tip: ObjectId | null;
  /** The experiment's own first checkpoint: where walking its chain stops. */
  first: ObjectId | null;
  /** The checkpoint the experiment started from (resume-with-changes or `--rev`), or null. */
  from: ObjectId | null;
  /** ID of the baseline record: the deps and params the experiment started from. */
  baseline: ObjectId;
  created: string;
  /** When the tip was recorded (milliseconds when cairn took the time itself): lets lists sort without reading checkpoints. */
  updated: string;
  /** Number of checkpoints from `first` to `tip`. */
  checkpoints: number;
}

/** The deps-and-params state an experiment started from; its ID is the baseline. */
export interface BaselineRecord {
  kind: typeof BASELINE_KIND;
  version: typeof RECORD_VERSION;
  deps: Record<string, DepEntry>;
  params: Params;
}

export interface BaselineState {
  deps: Record<string, DepEntry>;
  params: Params;
}

const ID = /^[0-9a-f]{64}$/;
const CREATED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function isObjectId(s: unknown): s is ObjectId {
  return typeof s === 'string' && ID.test(s);
}

export function shortId(id: ObjectId): string {
  return id.slice(0, 7);
}

/** ISO-8601 UTC with whole seconds, the only time format records hold. */
export function utcSeconds(when: Date | string = new Date()): string {
  const d = typeof when === 'string' ? new Date(when) : when;
  if (Number.isNaN(d.getTime())) throw new CairnError('BAD_INPUT', `invalid time '${String(when)}'`);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Params and metrics come from user files; the canonical encoder would
 * silently turn a Date or a Map into `{}`, so anything that is not plain
 * JSON-like data is refused here with the path that holds it.
 */
function checkData(v: unknown, where: string): void {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CairnError('BAD_INPUT', `${where} is not a finite number`);
    return;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkData(x, `${where}[${i}]`));
    return;
  }
  if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) checkData(x, `${where}.${k}`);
    return;
  }
  throw new CairnError('BAD_INPUT', `${where} holds a ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v}, not plain data`);
}

function checkEntries(entries: unknown, what: 'outs' | 'deps' | 'metricsFiles'): void {
  if (!isPlainObject(entries)) throw new CairnError('BAD_INPUT', `checkpoint ${what} must be an object of path -> entry`);
  for (const [path, e] of Object.entries(entries)) {
    const x = e as Partial<OutEntry> | null;
    if (
      path === '' ||
      !isPlainObject(x) ||
      !isObjectId(x.id) ||
      !Number.isSafeInteger(x.size) ||
      (x.size as number) < 0 ||
      (x.kind !== 'file' && x.kind !== 'tree') ||
      (what === 'outs' && typeof x.checkpoint !== 'boolean')
    ) {
      throw new CairnError('BAD_INPUT', `malformed ${what} entry for '${path}'`, {
        hint: what === 'outs' ? 'expected { id, size, kind: file|tree, checkpoint: boolean }' : 'expected { id, size, kind: file|tree }',
      });
    }
  }
}

export function checkParams(params: unknown): asserts params is Params {
  if (!isPlainObject(params)) throw new CairnError('BAD_INPUT', 'params must be an object of file -> values');
  for (const [file, values] of Object.entries(params)) {
    if (!isPlainObject(values)) throw new CairnError('BAD_INPUT', `params of '${file}' must be an object`);
    checkData(values, `params '${file}'`);
  }
}

/**
 * Every path a record names must pass the workspace-path rule, and outs must
 * not overlap each other, a dep or a params file (as the pipeline parser
 * guarantees): `exp apply` writes them all, and overlapping targets would
 * let one write go through another.
 */
export function checkRecordPaths(r: { outs?: Record<string, unknown>; deps: Record<string, unknown>; params: Params; metricsFiles?: Record<string, unknown> }): void {
  const outs = Object.keys(r.outs ?? {});
  const metricsFiles = Object.keys(r.metricsFiles ?? {});
  const deps = Object.keys(r.deps);
  const files = Object.keys(r.params);
  for (const p of outs) checkWorkspacePath(p, 'out');
  for (const p of metricsFiles) checkWorkspacePath(p, 'metrics file');
  for (const p of deps) checkWorkspacePath(p, 'dep');
  for (const p of files) checkWorkspacePath(p, 'params file');
  // Metrics files are written by the same apply as the outs, so they follow the same rule.
  const written = [...outs, ...metricsFiles];
  for (let i = 0; i < written.length; i++) {
    const what = i < outs.length ? 'out' : 'metrics file';
    for (let j = 0; j < i; j++) if (pathsOverlap(written[i], written[j])) throw new CairnError('BAD_INPUT', `outs '${written[j]}' and '${written[i]}' overlap`);
    for (const d of [...deps, ...files]) if (pathsOverlap(written[i], d)) throw new CairnError('BAD_INPUT', `${what} '${written[i]}' overlaps dep or params file '${d}'`);
  }
}

export function checkMetrics(metrics: unknown): asserts metrics is Metrics {
  if (!isPlainObject(metrics)) throw new CairnError('BAD_INPUT', 'metrics must be an object');
  checkData(metrics, 'metrics');
}

// Only the fields a DepEntry/OutEntry has, so stray properties of a caller's
// objects never change a record's ID.
function pickDeps(deps: Record<string, DepEntry>): Record<string, DepEntry> {
  const out: Record<string, DepEntry> = {};
  for (const [p, e] of Object.entries(deps)) out[p] = { id: e.id, size: e.size, kind: e.kind };
  return out;
}

function pickOuts(outs: Record<string, OutEntry>): Record<string, OutEntry> {
  const out: Record<string, OutEntry> = {};
  for (const [p, e] of Object.entries(outs)) out[p] = { id: e.id, size: e.size, kind: e.kind, checkpoint: e.checkpoint };
  return out;
}

export interface CheckpointFields {
  experiment: string;
  stage: string;
  step: number;
  created: string;
  parent: ObjectId | null;
  outs: Record<string, OutEntry>;
  deps: Record<string, DepEntry>;
  params: Params;
  metrics: Metrics;
  metricsFiles?: Record<string, DepEntry>;
  cmd: string;
}

export function makeCheckpoint(f: CheckpointFields): CheckpointRecord {
  if (typeof f.stage !== 'string' || f.stage === '') throw new CairnError('BAD_INPUT', 'a checkpoint needs a stage name');
  if (typeof f.cmd !== 'string') throw new CairnError('BAD_INPUT', 'a checkpoint needs the command (cmd) as a string');
  if (!Number.isSafeInteger(f.step) || f.step < 0) throw new CairnError('BAD_INPUT', `invalid step ${f.step}`);
  if (!CREATED.test(f.created)) throw new CairnError('BAD_INPUT', `invalid created time '${f.created}'`);
  if (f.parent !== null && !isObjectId(f.parent)) throw new CairnError('BAD_INPUT', `invalid parent ID '${String(f.parent)}'`);
  checkEntries(f.outs, 'outs');
  checkEntries(f.deps, 'deps');
  checkParams(f.params);
  checkMetrics(f.metrics);
  if (f.metricsFiles !== undefined) checkEntries(f.metricsFiles, 'metricsFiles');
  checkRecordPaths(f);
  // Left out when empty, so a stage without metrics files records what it did before the field existed.
  const metricsFiles = f.metricsFiles && Object.keys(f.metricsFiles).length > 0 ? { metricsFiles: pickDeps(f.metricsFiles) } : {};
  return {
    kind: CHECKPOINT_KIND,
    version: RECORD_VERSION,
    experiment: f.experiment,
    stage: f.stage,
    step: f.step,
    created: f.created,
    parent: f.parent,
    outs: pickOuts(f.outs),
    deps: pickDeps(f.deps),
    params: f.params,
    metrics: f.metrics,
    ...metricsFiles,
    cmd: f.cmd,
  };
}

/** Parent first, then every out, dep and metrics file, so gc keeps all a checkpoint restores. */
export function checkpointLinks(r: CheckpointRecord): ObjectId[] {
  const links: ObjectId[] = [];
  if (r.parent) links.push(r.parent);
  for (const e of Object.values(r.outs)) links.push(e.id);
  for (const e of Object.values(r.deps)) links.push(e.id);
  for (const e of Object.values(r.metricsFiles ?? {})) links.push(e.id);
  return [...new Set(links)];
}

export async function putCheckpoint(store: Store, r: CheckpointRecord): Promise<ObjectId> {
  return store.putRecord(r, checkpointLinks(r));
}

function checkVersion(body: { version?: unknown }, id: ObjectId, what: string): void {
  if (body.version !== RECORD_VERSION) {
    throw new CairnError('FAILED', `${what} ${shortId(id)} has format version ${String(body.version)}, this cairn reads ${RECORD_VERSION}`, {
      hint: 'upgrade cairn',
    });
  }
}

export function isCheckpointBody(body: unknown): body is CheckpointRecord {
  return isPlainObject(body) && body.kind === CHECKPOINT_KIND;
}

/**
 * Records come from other stores (import, remotes): a decoded record is
 * checked like any input before anything uses its paths, and the error
 * names the record, since the user never typed those paths.
 */
function checkDecoded(id: ObjectId, what: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    if (isCairnError(err, 'BAD_INPUT')) {
      throw new CairnError('BAD_INPUT', `${what} ${shortId(id)} is refused: ${err.message}`, { hint: err.hint, cause: err });
    }
    throw err;
  }
}

/** Reads a checkpoint; an ID of anything else, or a record naming unsafe paths, is refused as bad input. */
export async function readCheckpoint(store: Store, id: ObjectId): Promise<CheckpointRecord> {
  const { body } = await store.getRecord<unknown>(id);
  if (!isCheckpointBody(body)) throw new CairnError('BAD_INPUT', `${shortId(id)} is not a checkpoint`);
  checkVersion(body, id, 'checkpoint');
  checkDecoded(id, 'checkpoint', () => {
    // What makeCheckpoint refuses to write is refused when read: a parent that is not an ID (found by fuzzing) sent chain walks astray.
    if (body.parent !== null && !isObjectId(body.parent)) throw new CairnError('BAD_INPUT', `invalid parent ID '${String(body.parent)}'`);
    if (!Number.isSafeInteger(body.step) || body.step < 0) throw new CairnError('BAD_INPUT', `invalid step ${String(body.step)}`);
    if (typeof body.created !== 'string' || !CREATED.test(body.created)) throw new CairnError('BAD_INPUT', `invalid created time '${String(body.created)}'`);
    if (typeof body.experiment !== 'string' || typeof body.stage !== 'string' || typeof body.cmd !== 'string') {
      throw new CairnError('BAD_INPUT', 'experiment, stage and cmd must be strings');
    }
    checkMetrics(body.metrics);
    checkEntries(body.outs, 'outs');
    checkEntries(body.deps, 'deps');
    if (body.metricsFiles !== undefined) checkEntries(body.metricsFiles, 'metricsFiles');
    checkParams(body.params);
    checkRecordPaths(body);
  });
  return body;
}

export async function putExperimentState(store: Store, s: ExperimentState): Promise<ObjectId> {
  const links = [s.tip, s.from, s.baseline].filter((x): x is ObjectId => x !== null);
  return store.putRecord(s, links);
}

export async function readExperimentState(store: Store, id: ObjectId, name: string): Promise<ExperimentState> {
  const { body } = await store.getRecord<unknown>(id);
  if (!isPlainObject(body) || body.kind !== EXPERIMENT_KIND) {
    throw new CairnError('CORRUPT', `experiment '${name}' points at ${shortId(id)}, which is not an experiment record`, { hint: 'run cairn fsck' });
  }
  checkVersion(body, id, 'experiment record');
  return body as unknown as ExperimentState;
}

export async function putBaseline(store: Store, b: BaselineState): Promise<ObjectId> {
  checkEntries(b.deps, 'deps');
  checkParams(b.params);
  checkRecordPaths(b);
  const body: BaselineRecord = { kind: BASELINE_KIND, version: RECORD_VERSION, deps: pickDeps(b.deps), params: b.params };
  // No links: the dep IDs are a description here, and the store need not hold them yet.
  return store.putRecord(body, []);
}

export async function getBaseline(store: Store, id: ObjectId): Promise<BaselineRecord> {
  const { body } = await store.getRecord<unknown>(id);
  if (!isPlainObject(body) || body.kind !== BASELINE_KIND) throw new CairnError('BAD_INPUT', `${shortId(id)} is not a baseline`);
  checkVersion(body, id, 'baseline');
  checkDecoded(id, 'baseline', () => {
    checkEntries(body.deps, 'deps');
    checkParams(body.params);
    checkRecordPaths(body as unknown as BaselineRecord);
  });
  return body as unknown as BaselineRecord;
}
