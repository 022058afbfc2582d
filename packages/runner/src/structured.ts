/**
 * Shared reading of the small JSON/YAML files a run touches (params,
 * metrics) and of `key=value` command-line values, so that every one of
 * them fails the same way: CairnError BAD_INPUT naming the file and line.
 */
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

/** A JSON syntax error with the offset where it was found. */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * JSON.parse that also takes the bare NaN / Infinity / -Infinity that
 * Python's json.dump writes by default (a diverged loss is common in
 * training and must not make a metrics file "malformed"), and that reports
 * where a syntax error is (Node 20's messages often do not).
 */
export function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new JsonReader(text).document();
  }
}

class JsonReader {
  private i = 0;
  constructor(private readonly s: string) {}

  document(): unknown {
    const v = this.value();
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected '${this.s[this.i]}' after the value`);
    return v;
  }

  private fail(message: string): never {
    throw new JsonSyntaxError(message, this.i);
  }

  private ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i])) this.i++;
  }

  private value(): unknown {
    this.ws();
    if (this.i >= this.s.length) this.fail('unexpected end of file');
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', -Infinity],
    ] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) this.fail(`unexpected '${c}'`);
    this.i += m[0].length;
    return Number(m[0]);
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail(this.i >= this.s.length ? 'unexpected end of file' : "expected a property name in double quotes");
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':' after a property name");
      this.i++;
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.ws();
      if (this.s[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.s[this.i] === '}') {
        this.i++;
        return out;
      }
      this.fail(this.i >= this.s.length ? 'unexpected end of file' : "expected ',' or '}'");
    }
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      if (this.s[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.s[this.i] === ']') {
        this.i++;
        return out;
      }
      this.fail(this.i >= this.s.length ? 'unexpected end of file' : "expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.i;
    this.i++;
    while (this.i < this.s.length && this.s[this.i] !== '"') {
      if (this.s[this.i] === '\\') this.i++;
      else if (this.s.charCodeAt(this.i) < 0x20) this.fail('control character in a string');
      this.i++;
    }
    if (this.i >= this.s.length) {
      this.i = start;
      this.fail('unterminated string');
    }
    this.i++;
    try {
      return JSON.parse(this.s.slice(start, this.i)) as string;
    } catch {
      this.i = start;
      return this.fail('bad escape in a string');
    }
  }
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
      const offset = err instanceof JsonSyntaxError ? err.offset : 0;
      throw new CairnError('BAD_INPUT', `${display}:${lineOf(text, offset)}: malformed ${what} JSON: ${(err as Error).message}`);
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
