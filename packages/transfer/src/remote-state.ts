import { CairnError, decodeRecord, isCairnError, sha256, type ObjectBackend, type ObjectId, type Store } from '@cairn/store';
import { EXPERIMENT_KIND, isObjectId, readExperimentState, RECORD_VERSION } from '@cairn/lineage';

/** What push, pull and remote listing need of an experiment-state record. */
export interface StateFields {
  tip: ObjectId | null;
  from: ObjectId | null;
  checkpoints: number;
  created: string;
  updated: string;
}

/**
 * An experiment-state record as a remote holds it: read from the local
 * store when it is there (already checked), else fetched and checked as
 * hostile input (its bytes against its ID, its fields' shapes).
 */
export async function remoteState(remote: ObjectBackend, local: Store | null, id: ObjectId, name: string, source: string): Promise<StateFields> {
  if (local && (await local.has(id))) return readExperimentState(local, id, name);
  let obj;
  try {
    obj = await remote.get(id);
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND')) throw new CairnError('CORRUPT', `${source}: experiment '${name}' points at ${id.slice(0, 12)}, which it does not hold`);
    throw err;
  }
  const where = `${source}: experiment '${name}'`;
  if (obj.type !== 'record' || sha256(obj.data).toString('hex') !== id) throw new CairnError('CORRUPT', `${where} points at ${id.slice(0, 12)}, whose bytes do not match its ID`);
  let body: Record<string, unknown>;
  try {
    body = decodeRecord<Record<string, unknown>>(obj.data, where).body;
  } catch (err) {
    throw new CairnError('CORRUPT', `${where}: ${(err as Error).message}`);
  }
  const ok =
    body !== null &&
    typeof body === 'object' &&
    body.kind === EXPERIMENT_KIND &&
    body.version === RECORD_VERSION &&
    (body.tip === null || isObjectId(body.tip)) &&
    (body.from === null || isObjectId(body.from)) &&
    Number.isSafeInteger(body.checkpoints) &&
    (body.checkpoints as number) >= 0 &&
    typeof body.created === 'string' &&
    typeof body.updated === 'string';
  if (!ok) throw new CairnError('CORRUPT', `${where} points at ${id.slice(0, 12)}, which is not an experiment record`);
  return body as unknown as StateFields;
}
