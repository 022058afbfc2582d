import { CairnError, type ObjectBackend, type ObjectId } from '@cairn/store';
import { checkName, compareNewestFirst, EXP_REF_PREFIX, expRef, isValidName } from '@cairn/lineage';
import { remoteState } from './remote-state.js';

/** One experiment on a remote, in the shape of `exp list --json` (plus its state record and times). */
export interface RemoteExperiment {
  name: string;
  tip: ObjectId | null;
  /** The checkpoint it started from, or null. */
  parent: ObjectId | null;
  checkpoints: number;
  state: ObjectId;
  created: string;
  updated: string;
}

/** The experiments on a remote, newest tip first; refs whose names are not experiment names are skipped. */
export async function listRemoteExperiments(remote: ObjectBackend, opts: { remoteName?: string } = {}): Promise<RemoteExperiment[]> {
  const source = opts.remoteName ? `remote '${opts.remoteName}'` : 'the remote';
  const refs = (await remote.refs.list(EXP_REF_PREFIX)).map((r) => ({ name: r.name.slice(EXP_REF_PREFIX.length), id: r.id })).filter((r) => isValidName(r.name));
  const out = await Promise.all(
    refs.map(async (r) => {
      const s = await remoteState(remote, null, r.id, r.name, source);
      return { name: r.name, tip: s.tip, parent: s.from, checkpoints: s.checkpoints, state: r.id, created: s.created, updated: s.updated };
    }),
  );
  return out.sort(compareNewestFirst);
}

/**
 * Drops experiments from a remote (each ref deleted only if it still names
 * what was read; their data stays until the remote is collected). An
 * unknown name is NOT_FOUND before anything is removed.
 */
export async function removeRemoteExperiments(remote: ObjectBackend, names: string[], opts: { remoteName?: string } = {}): Promise<string[]> {
  const source = opts.remoteName ? `remote '${opts.remoteName}'` : 'the remote';
  const unique = [...new Set(names)];
  if (unique.length === 0) throw new CairnError('BAD_INPUT', 'name the experiments to remove from the remote');
  const found: Array<{ name: string; id: ObjectId }> = [];
  for (const name of unique) {
    checkName(name);
    const id = await remote.refs.get(expRef(name));
    if (id === null) throw new CairnError('NOT_FOUND', `no experiment '${name}' on ${source}`, { fields: { name } });
    found.push({ name, id });
  }
  for (const f of found) await remote.refs.delete(expRef(f.name), f.id);
  return found.map((f) => f.name);
}
