import { CairnError, type ObjectId, type ObjectType } from '@cairn/store';
import { isValidName } from '@cairn/lineage';

/*
 * The first entry of an export tarball (docs/FORMAT.md, "Tarball layout").
 * Everything an importer needs to check the rest before it reads it: which
 * experiments, which objects (ID, type, stored length) and how many bytes.
 */

export const MANIFEST_NAME = 'cairn-export.json';
export const MANIFEST_FORMAT = 'cairn-export';
export const MANIFEST_VERSION = 1;

/** No object the store writes comes near this (chunks are ≤ 4 MiB; a file manifest is ~40 bytes per chunk). */
export const MAX_OBJECT_BYTES = 256 * 1024 * 1024;
/** ~90 bytes per object: room for ~700,000 objects (≥ 700 GB of 1 MiB chunks). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export const OBJECT_TYPES: readonly ObjectType[] = ['chunk', 'file', 'tree', 'record'];

export interface ManifestExperiment {
  /** The experiment's name in the exporting store. */
  name: string;
  /** The experiment-state record the importer points `exp/<name>` at. */
  state: ObjectId;
  /** Its tip checkpoint (informative; the state record is the truth), or null. */
  tip: ObjectId | null;
  /** Checkpoints in the experiment's own chain. */
  checkpoints: number;
  /**
   * Set by `--only-tips`: the IDs in the exporting store this experiment is a
   * one-checkpoint copy of (the original state record and tip). Null for a
   * full export.
   */
  shallow: { state: ObjectId; tip: ObjectId | null } | null;
}

/** One object: `[id, type, stored length in bytes]`, in the order the tarball holds them. */
export type ManifestObject = [ObjectId, ObjectType, number];

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  onlyTips: boolean;
  experiments: ManifestExperiment[];
  /** Number of objects; equals `objects.length`. */
  objectCount: number;
  /** Sum of the stored lengths: the tarball's payload, deduplicated. */
  objectBytes: number;
  objects: ManifestObject[];
}

/** `objects/<2 hex>/<64 hex>.<type>`: the entry holding an object's stored bytes. */
export function objectEntryName(id: ObjectId, type: ObjectType): string {
  return `objects/${id.slice(0, 2)}/${id}.${type}`;
}

export const OBJECT_ENTRY = /^objects\/([0-9a-f]{2})\/([0-9a-f]{64})\.(chunk|file|tree|record)$/;

const ID = /^[0-9a-f]{64}$/;
const isId = (v: unknown): v is ObjectId => typeof v === 'string' && ID.test(v);
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function bad(message: string): CairnError {
  return new CairnError('BAD_INPUT', `the tarball's manifest is malformed: ${message}`);
}

/** Parses and checks a manifest's bytes; every field is checked, so the rest of the import can trust its shape. */
export function parseManifest(bytes: Buffer, maxObjectBytes = MAX_OBJECT_BYTES): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(raw)) throw bad('not a JSON object');
  if (raw.format !== MANIFEST_FORMAT) throw bad(`'format' is ${JSON.stringify(raw.format)?.slice(0, 40)}, not "${MANIFEST_FORMAT}"`);
  if (raw.version !== MANIFEST_VERSION) {
    if (typeof raw.version === 'number' && raw.version > MANIFEST_VERSION) {
      throw new CairnError('BAD_INPUT', `the tarball has export format ${raw.version}; this cairn reads format ${MANIFEST_VERSION}`, { hint: 'upgrade cairn' });
    }
    throw bad(`'version' is ${JSON.stringify(raw.version)?.slice(0, 40)}, not ${MANIFEST_VERSION}`);
  }
  if (typeof raw.onlyTips !== 'boolean') throw bad("'onlyTips' must be true or false");
  if (!Array.isArray(raw.objects)) throw bad("'objects' must be a list");
  if (!Array.isArray(raw.experiments)) throw bad("'experiments' must be a list");

  const types = new Map<ObjectId, ObjectType>();
  let total = 0;
  raw.objects.forEach((o: unknown, i: number) => {
    if (!Array.isArray(o) || o.length !== 3) throw bad(`objects[${i}] is not [id, type, size]`);
    const [id, type, size] = o as unknown[];
    if (!isId(id)) throw bad(`objects[${i}] has no valid ID`);
    if (!OBJECT_TYPES.includes(type as ObjectType)) throw bad(`object ${id.slice(0, 12)} has unknown type ${JSON.stringify(type)?.slice(0, 20)}`);
    if (!Number.isSafeInteger(size) || (size as number) < 0) throw bad(`object ${id.slice(0, 12)} has an invalid size`);
    if ((size as number) > maxObjectBytes) {
      throw new CairnError('BAD_INPUT', `the tarball's manifest claims object ${id.slice(0, 12)} holds ${size} bytes; an object holds at most ${Math.round(maxObjectBytes / 2 ** 20)} MiB`);
    }
    if (types.has(id)) throw bad(`object ${id.slice(0, 12)} is listed twice`);
    types.set(id, type as ObjectType);
    total += size as number;
  });
  if (raw.objectCount !== raw.objects.length) throw bad(`'objectCount' is ${JSON.stringify(raw.objectCount)?.slice(0, 20)}, but ${raw.objects.length} objects are listed`);
  if (raw.objectBytes !== total) throw bad(`'objectBytes' is ${JSON.stringify(raw.objectBytes)?.slice(0, 20)}, but the listed sizes add up to ${total}`);

  const names = new Set<string>();
  raw.experiments.forEach((e: unknown, i: number) => {
    if (!isPlainObject(e)) throw bad(`experiments[${i}] is not an object`);
    if (typeof e.name !== 'string' || !isValidName(e.name)) throw bad(`experiments[${i}] has an invalid name ${JSON.stringify(e.name)?.slice(0, 120)}`);
    if (names.has(e.name)) throw bad(`experiment '${e.name}' is listed twice`);
    names.add(e.name);
    if (!isId(e.state)) throw bad(`experiment '${e.name}' has no valid state record ID`);
    if (types.get(e.state) !== 'record') throw bad(`experiment '${e.name}': its state record ${e.state.slice(0, 12)} is not among the tarball's records`);
    if (e.tip !== null && !isId(e.tip)) throw bad(`experiment '${e.name}' has an invalid tip`);
    if (!Number.isSafeInteger(e.checkpoints) || (e.checkpoints as number) < 0) throw bad(`experiment '${e.name}' has an invalid checkpoint count`);
    if (e.shallow !== null) {
      const s = e.shallow;
      if (!isPlainObject(s) || !isId(s.state) || (s.tip !== null && !isId(s.tip))) throw bad(`experiment '${e.name}' has a malformed 'shallow' field`);
    }
  });
  return raw as unknown as Manifest;
}
