import { CairnError, isCairnError, type ObjectId, type Store } from '@cairn/store';
import { expRef, isValidName } from './names.js';
import { isCheckpointBody, readExperimentState, shortId } from './records.js';

const HEX_PREFIX = /^[0-9a-f]{4,64}$/;

/**
 * Turns what a user typed into a checkpoint ID: a full ID, an experiment
 * name (its tip), or a unique prefix of 4+ hex digits of a checkpoint.
 * A name wins over a prefix it also spells (as a git branch wins over a
 * short hash); a full 64-digit ID is always an ID.
 */
export async function resolveRef(store: Store, idOrName: string): Promise<ObjectId> {
  const text = idOrName.trim();
  if (text === '') throw new CairnError('BAD_INPUT', 'an empty name or ID');
  const lower = text.toLowerCase();
  if (/^[0-9a-f]{64}$/.test(lower)) return checkpointOrThrow(store, lower, text);

  if (isValidName(text)) {
    const stateId = await store.refs.get(expRef(text));
    if (stateId !== null) {
      const state = await readExperimentState(store, stateId, text);
      if (state.tip === null) throw new CairnError('NOT_FOUND', `experiment '${text}' has no checkpoints yet`, { fields: { name: text } });
      return state.tip;
    }
  }

  if (!HEX_PREFIX.test(lower)) {
    throw new CairnError('NOT_FOUND', `no experiment or checkpoint '${text}'`, {
      fields: { name: text },
      hint: /^[0-9a-f]{1,3}$/.test(lower) ? 'checkpoint IDs need at least 4 hex digits' : 'cairn exp list shows the experiments',
    });
  }
  let only: ObjectId;
  try {
    only = await store.resolve(lower, { types: ['record'] });
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND')) throw notFound(text);
    if (!isCairnError(err, 'AMBIGUOUS')) throw err;
    // Other records (experiment states, baselines) may share the prefix; only checkpoints count.
    const matches = await checkpointsWithPrefix(store, lower);
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw notFound(text);
    throw new CairnError('AMBIGUOUS', `'${text}' matches several checkpoints: ${matches.map(shortId).join(', ')}`, {
      hint: 'give more hex digits',
      fields: { id: text, matches },
    });
  }
  return checkpointOrThrow(store, only, text);
}

function notFound(text: string): CairnError {
  return new CairnError('NOT_FOUND', `no experiment or checkpoint '${text}'`, { hint: 'cairn exp show lists the checkpoints', fields: { name: text } });
}

async function checkpointOrThrow(store: Store, id: ObjectId, text: string): Promise<ObjectId> {
  if (!(await store.has(id))) throw notFound(text);
  const st = await store.stat(id);
  if (st.type !== 'record' || !isCheckpointBody((await store.getRecord<unknown>(id)).body)) {
    // A full ID of some other object is no checkpoint; a prefix that only hit one is no match.
    if (text.length === 64) throw new CairnError('BAD_INPUT', `${shortId(id)} is a ${st.type === 'record' ? 'record' : st.type}, not a checkpoint`);
    throw notFound(text);
  }
  return id;
}

/**
 * Scans the record IDs in order. Only reached for prefixes the store found
 * ambiguous, so the scan's cost is paid rarely.
 */
async function checkpointsWithPrefix(store: Store, prefix: string): Promise<ObjectId[]> {
  const out: ObjectId[] = [];
  for await (const o of store.listObjects({ types: ['record'] })) {
    if (o.id > prefix && !o.id.startsWith(prefix)) break;
    if (!o.id.startsWith(prefix)) continue;
    if (isCheckpointBody((await store.getRecord<unknown>(o.id)).body)) out.push(o.id);
  }
  return out.sort();
}
