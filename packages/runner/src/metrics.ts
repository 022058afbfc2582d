/**
 * Metrics files (JSON or YAML), read at every checkpoint. Values are kept
 * nested as in the file; `flatten` gives the dotted-key view that tables
 * and plots use.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from './errors.js';
import { formatOf, parseStructured } from './structured.js';

/** Metrics per file (workspace-relative path), as nested in the file. */
export type MetricValues = Record<string, Record<string, unknown>>;

/**
 * Reads metrics files. A file that does not exist yet is left out (a
 * script often writes its first metrics after its first checkpoint) unless
 * `required`, when it is NOT_FOUND. A malformed file is BAD_INPUT naming
 * the file and line.
 */
export async function readMetrics(
  workspaceDir: string,
  paths: string[],
  opts: { required?: boolean } = {},
): Promise<MetricValues> {
  const out: MetricValues = {};
  for (const p of paths) {
    const abs = path.resolve(workspaceDir, p);
    let text: string;
    try {
      text = await readFile(abs, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !opts.required) continue;
      if (code === 'ENOENT') throw new CairnError('NOT_FOUND', `metrics file '${p}' not found`, { cause: err });
      throw new CairnError('BAD_INPUT', `metrics file '${p}': cannot read: ${(err as Error).message}`, { cause: err });
    }
    out[p] = parseStructured(text, p, formatOf(p, 'metrics'), 'metrics');
  }
  return out;
}

/**
 * Nested maps to dotted keys: `{train: {loss: 1}}` → `{"train.loss": 1}`.
 * Lists and scalars are leaves; an empty map contributes nothing.
 */
export function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

/**
 * All metrics files merged into one flat map. Keys come from the files'
 * contents alone (as DVC shows them); when two files hold the same key the
 * later file's key is prefixed with its path so neither is lost.
 */
export function mergeMetrics(values: MetricValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [file, obj] of Object.entries(values)) {
    for (const [k, v] of Object.entries(flatten(obj))) {
      out[Object.hasOwn(out, k) ? `${file}:${k}` : k] = v;
    }
  }
  return out;
}
