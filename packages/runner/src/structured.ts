/**
 * Shared reading of the small JSON/YAML files a run touches (params,
 * metrics) and of `key=value` command-line values, so that every one of
 * them fails the same way: CairnError BAD_INPUT naming the file and line.
 */
import { randomBytes } from 'node:crypto';
import { chmod, rename, stat, unlink, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { CairnError } from './errors.js';

export type Format = 'json' | 'yaml';

/** The format a params or metrics file is read as, from its extension. */
export function formatOf(file: string, what: string): Format {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml' || ext === '') return 'yaml';
  if (ext === '.toml' || ext === '.py') {
    throw new CairnError('BAD_INPUT', `${file}: ${ext.slice(1).toUpperCase()} ${what} files are not supported`, {
      hint: 'use a YAML or JSON file',
    });
  }
  // An unknown extension is read as YAML, which also covers JSON content.
  return 'yaml';
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/**
 * JSON.parse that also takes the bare NaN / Infinity / -Infinity that
 * Python's json.dump writes by default (a diverged loss is common in
 * training and must not make the metrics file "malformed").
 */
export function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    if (!/NaN|Infinity/.test(text)) throw first;
  }
  // Rewrite the bare tokens (outside strings) to marker strings, then map
  // the markers back. The markers carry a random tag so a real string value
  // cannot be mistaken for one.
  const tag = `\u0000cairn-${randomBytes(4).toString('hex')}:`;
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^(-Infinity|Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (m) {
      out += JSON.stringify(tag + m[1]);
      i += m[1].length;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith(tag) ? NON_FINITE[v.slice(tag.length)] : v));
}

/**
 * Parses a params or metrics file into a plain object. Empty text reads as
 * {}. `display` names the file in messages.
 */
export function parseStructured(text: string, display: string, format: Format, what: string): Record<string, unknown> {
  let value: unknown;
  if (text.trim() === '') return {};
  if (format === 'json') {
    try {
      value = parseJsonLenient(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /position (\d+)/.exec(msg);
      const line = pos ? lineOf(text, Number(pos[1])) : /line (\d+)/.exec(msg)?.[1] ?? '1';
      const short = msg.replace(/ in JSON at position \d+.*$/, '').replace(/^Unexpected end of JSON input$/, 'unexpected end of file');
      throw new CairnError('BAD_INPUT', `${display}:${line}: malformed ${what} JSON: ${short}`);
    }
  } else {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new CairnError('BAD_INPUT', `${display}:${lc.linePos(e.pos[0]).line}: malformed ${what} YAML: ${msg}`);
    }
    value = doc.toJS({ maxAliasCount: 1000 });
    if (value === null || value === undefined) return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CairnError('BAD_INPUT', `${display}: ${what} file must hold a mapping of names to values`);
  }
  return value as Record<string, unknown>;
}

/** A value given on the command line, read as YAML (`0.3` a number, `[1, 2]` a list). */
export function parseYamlValue(raw: string, context: string): { value: unknown; node: YamlNode | null } {
  const doc = parseDocument(raw, { prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new CairnError('BAD_INPUT', `${context}: value '${raw}' is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  }
  return { value: doc.toJS(), node: doc.contents as YamlNode | null };
}

/**
 * Splits `key=value` at the first '='. The key must be non-empty; the value
 * may be empty (YAML null).
 */
export function splitAssignment(arg: string, context: string, example: string): { key: string; raw: string } {
  const eq = arg.indexOf('=');
  if (eq < 0) {
    throw new CairnError('BAD_INPUT', `${context} '${arg}' has no '=': expected key=value`, { hint: `for example ${example}` });
  }
  const key = arg.slice(0, eq).trim();
  if (key === '' || key.split('.').some((s) => s === '')) {
    throw new CairnError('BAD_INPUT', `${context} '${arg}' has an empty key: expected key=value`, { hint: `for example ${example}` });
  }
  return { key, raw: arg.slice(eq + 1) };
}

/**
 * Replaces a file through a temporary file in the same folder, so a crash
 * or a concurrent reader never sees half a file. Keeps the old file's mode.
 */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let mode: number | undefined;
  try {
    mode = (await stat(file)).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  try {
    await writeFile(tmp, data);
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
