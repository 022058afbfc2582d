/**
 * Shared reading of the small JSON/YAML files a run touches (params,
 * metrics) and of `key=value` command-line values, so that every one of
 * them fails the same way: CairnError BAD_INPUT naming the file and line.
 */
import path from 'node:path';
import { Document, isMap, isScalar, LineCounter, parseDocument, visit, YAMLParseError } from 'yaml';
import type { DocumentOptions, Node as YamlNode, ParseOptions, SchemaOptions } from 'yaml';
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

const TOO_DEEP = 'nested too deeply to read';

/**
 * The yaml package recurses several frames per level of nesting: about 1000
 * nested `[` abort the whole process (V8 runs out of stack while compiling a
 * regular expression, which no catch sees), and fewer `- ` overflow the
 * stack (found by fuzzing). Far more than any config file nests.
 */
const MAX_YAML_DEPTH = 256;

/**
 * Where YAML text nests deeper than MAX_YAML_DEPTH (an offset), or null.
 * An upper bound of the parser's depth, read without parsing: indentation
 * levels of the block structure, plus `- `/`? ` opening compact collections
 * on a line, plus flow brackets outside quoted strings and comments.
 */
function yamlTooDeep(text: string): number | null {
  const indents: number[] = [];
  let flow = 0;
  let quote: '"' | "'" | null = null;
  let pos = 0;
  let blockScalarIndent = -1; // lines indented more than this belong to a `|` or `>` scalar
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = text.length;
    let i = pos;
    while (i < end && text[i] === ' ') i++;
    const indent = i - pos;
    const blank = i >= end || text[i] === '\r' || text[i] === '#';
    if (blockScalarIndent >= 0 && (blank || indent > blockScalarIndent)) {
      pos = end + 1;
      continue;
    }
    blockScalarIndent = -1;
    if (quote === null && flow === 0 && !blank) {
      while (indents.length > 0 && indents[indents.length - 1] >= indent) indents.pop();
      indents.push(indent);
    }
    let compact = 0;
    let prev = ' '; // the last character that is not a space
    for (; i < end; i++) {
      const c = text[i];
      if (quote !== null) {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) {
          if (quote === "'" && text[i + 1] === "'") i++;
          else quote = null;
        }
        continue;
      }
      const spaceBefore = i === pos || text[i - 1] === ' ' || text[i - 1] === '\t';
      if (c === '#' && spaceBefore) break;
      if ((c === '"' || c === "'") && (spaceBefore || '[{,:-?'.includes(prev))) quote = c;
      else if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      else if ((c === '-' || c === '?') && (text[i + 1] === ' ' || i + 1 === end) && spaceBefore) compact++;
      if (indents.length + compact + flow > MAX_YAML_DEPTH) return i;
      if (c !== ' ' && c !== '\t') prev = c;
    }
    if (quote === null && flow === 0 && /[|>][-+0-9]*\s*$/.test(text.slice(pos, end).replace(/\s+#.*$/, ''))) blockScalarIndent = indent;
    pos = end + 1;
  }
  return null;
}

/** The message of a YAML error, a stack overflow inside the package said as what it means for the file. */
function yamlMessage(err: Error): string {
  return /Maximum call stack size exceeded/.test(err.message) ? TOO_DEEP : err.message;
}

/**
 * parseDocument, with duplicate keys found in linear time. The yaml
 * package's own check compares every key of a mapping with every other: a
 * file of 20 000 keys takes seconds, of 100 000 minutes (found by fuzzing).
 * A duplicate is reported as the package reports it, in doc.errors.
 */
export function parseYaml(text: string, opts: ParseOptions & DocumentOptions & SchemaOptions = {}): Document.Parsed {
  let doc: Document.Parsed;
  const tooDeep = yamlTooDeep(text);
  if (tooDeep !== null) {
    doc = new Document() as Document.Parsed;
    doc.errors.push(new YAMLParseError([tooDeep, tooDeep], 'IMPOSSIBLE', `nested deeper than ${MAX_YAML_DEPTH} levels`));
    return doc;
  }
  try {
    doc = parseDocument(text, { ...opts, uniqueKeys: false });
  } catch (err) {
    // The package's parser recurses once per level: 100 000 nested `- ` overflow the stack (found by fuzzing).
    if (!(err instanceof RangeError)) throw err;
    doc = new Document() as Document.Parsed;
    doc.errors.push(new YAMLParseError([0, 0], 'IMPOSSIBLE', TOO_DEEP));
    return doc;
  }
  for (const e of doc.errors) e.message = yamlMessage(e);
  if (doc.errors.length > 0) return doc;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return;
      const seen = new Set<string>();
      for (const pair of map.items) {
        // As the package's check: scalar keys are equal when their values are; merge keys (a symbol with merge on) may repeat.
        if (!isScalar(pair.key) || typeof pair.key.value === 'symbol') continue;
        const v = pair.key.value;
        const k = `${typeof v}:${String(v)}`;
        if (seen.has(k)) {
          const range = pair.key.range ?? [0, 0];
          doc.errors.push(new YAMLParseError([range[0], range[1]], 'DUPLICATE_KEY', 'Map keys must be unique'));
          return visit.BREAK;
        }
        seen.add(k);
      }
    },
  });
  return doc;
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

// Deeper than any file Python's json writes (its recursion limit is about
// 1000): past this the reader would run out of stack instead of answering.
const MAX_JSON_DEPTH = 1000;

class JsonReader {
  private i = 0;
  private depth = 0;
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
    if (c === '{' || c === '[') {
      if (++this.depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
      const v = c === '{' ? this.object() : this.array();
      this.depth--;
      return v;
    }
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
    const doc = parseYaml(text, { lineCounter: lc, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new CairnError('BAD_INPUT', `${display}:${lc.linePos(e.pos[0]).line}: malformed ${what} YAML: ${msg}`);
    }
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      // An alias to an anchor not yet set, or an alias bomb: the package throws instead of listing them in errors (found by fuzzing).
      throw new CairnError('BAD_INPUT', `${display}: malformed ${what} YAML: ${yamlMessage(err as Error)}`);
    }
    if (value === null || value === undefined) return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CairnError('BAD_INPUT', `${display}: ${what} file must hold a mapping of names to values`);
  }
  return value as Record<string, unknown>;
}

/** A value given on the command line, read as YAML (`0.3` a number, `[1, 2]` a list). */
export function parseYamlValue(raw: string, context: string): { value: unknown; node: YamlNode | null } {
  const doc = parseYaml(raw, { prettyErrors: false });
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
