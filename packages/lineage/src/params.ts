import type { Params } from './records.js';

/** The file whose values `exp show` prints without a file prefix, as in DVC. */
export const DEFAULT_PARAMS_FILE = 'params.yaml';

/**
 * The flat form SPEC's `exp show --json` prints: the values of params.yaml
 * at the top level (`{"lr": 0.01}`), and those of any other params file
 * nested under the file's name (`{"lr": 0.01, "train.yaml": {"seed": 1}}`).
 * A file entry wins over a params.yaml key of the same name, since a key
 * spelled like a params file name is far less likely than the file itself.
 */
export function displayParams(params: Params): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(params[DEFAULT_PARAMS_FILE] ?? {}) };
  for (const file of Object.keys(params).sort()) {
    if (file !== DEFAULT_PARAMS_FILE) out[file] = params[file];
  }
  return sortKeysDeep(out) as Record<string, unknown>;
}

/** Canonical key order, so equal data prints identically however it was read. */
export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeysDeep((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}
