/**
 * yargs's usage errors, said in one line that names the fix: the option
 * meant by a typo, the accepted values, the missing argument. What a
 * command accepts is read from its own builder, run against a recorder
 * (recordShape), so nothing here repeats the commands' option lists.
 */
import type { AnyCommand } from './commands/listing.js';

export interface OptionShape {
  name: string;
  aliases: string[];
  /** Takes no value (a flag). */
  boolean: boolean;
}

export interface CommandShape {
  options: OptionShape[];
  positionals: string[];
  /** Subcommands defined by the builder (as `store` does), by name and alias. */
  subcommands: Map<string, AnyCommand>;
}

type Builder = AnyCommand['builder'];

function toList(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** What `builder` declares: every .option/.positional/.command call, recorded. */
export function recordShape(builder: Builder): CommandShape {
  const shape: CommandShape = { options: [], positionals: [], subcommands: new Map() };
  if (typeof builder !== 'function') {
    for (const [name, o] of Object.entries(builder ?? {})) shape.options.push({ name, aliases: toList((o as { alias?: unknown }).alias), boolean: (o as { type?: string }).type === 'boolean' });
    return shape;
  }
  const recorder: object = new Proxy(
    {},
    {
      get(_t, prop) {
        return (...args: unknown[]) => {
          if (prop === 'option' || prop === 'options') {
            const defs = typeof args[0] === 'string' ? { [args[0]]: args[1] ?? {} } : (args[0] as Record<string, unknown>);
            for (const [name, o] of Object.entries(defs ?? {})) {
              const opt = (o ?? {}) as { alias?: unknown; type?: string };
              shape.options.push({ name, aliases: toList(opt.alias), boolean: opt.type === 'boolean' });
            }
          } else if (prop === 'positional') {
            shape.positionals.push(String(args[0]));
          } else if (prop === 'command' && typeof args[0] === 'object' && args[0] !== null) {
            const c = args[0] as AnyCommand;
            const name = String(c.command).split(' ')[0];
            shape.subcommands.set(name, c);
            for (const a of toList(c.aliases)) shape.subcommands.set(a, c);
          }
          return recorder;
        };
      },
    },
  );
  try {
    (builder as (y: unknown) => unknown)(recorder);
  } catch {
    /* a builder that needs real yargs: its shape stays partial */
  }
  return shape;
}

/** Edit distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest of `names` to `word`, when it is close enough to be a typo. */
export function closest(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = n.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return bestD <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : undefined;
}

const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

export interface UsageContext {
  /** The command path that ran, e.g. ['exp', 'run']; empty at the top level. */
  path: string[];
  /** The usage line of that command, e.g. 'apply <id>'. */
  usage?: string;
  /** Its options and the global ones. */
  options: OptionShape[];
  argv: string[];
}

/**
 * yargs's message (which may span lines: "Invalid values:\n  Argument: ...")
 * as one line that says what to do instead.
 */
export function explainUsageError(message: string, ctx: UsageContext): string {
  const text = message.trim();
  const unknown = /^Unknown arguments?: (.+)$/.exec(text);
  if (unknown) {
    const first = unknown[1].split(', ')[0];
    const given = ctx.argv.find((a) => a.replace(/^-+/, '').split('=')[0] === first && a.startsWith('-'));
    if (given === undefined) return `unexpected argument '${first}'${ctx.usage ? `; the usage is: cairn ${[...ctx.path.slice(0, -1), ctx.usage].join(' ')}` : ''}`;
    const names = ctx.options.flatMap((o) => [o.name, ...o.aliases]).filter((n) => n.length > 1);
    const guess = closest(first.replace(/^no-/, ''), names);
    return `unknown option ${given.split('=')[0]}${guess ? `; did you mean --${guess}?` : ''}`;
  }
  const invalid = /^Invalid values?:\s*Argument: ([^,]+), Given: (.+?), Choices: (.+)$/s.exec(text);
  if (invalid) {
    const choices = invalid[3].split(/,\s*/).map((c) => c.trim().replace(/^"|"$/g, ''));
    return `invalid value ${invalid[2].trim()} for ${dashed(invalid[1].trim())}: choose ${choices.slice(0, -1).join(', ')}${choices.length > 1 ? ' or ' : ''}${choices.at(-1)}`;
  }
  const few = /^Not enough non-option arguments: got (\d+)/.exec(text);
  if (few && ctx.usage) {
    const needed = ctx.usage.split(' ').filter((w) => w.startsWith('<')).slice(Number(few[1]));
    return `missing ${needed.join(' ') || 'argument'}: the usage is cairn ${[...ctx.path.slice(0, -1), ctx.usage].join(' ')}`;
  }
  const missing = /^Missing required arguments?: (.+)$/.exec(text);
  if (missing) return `missing ${missing[1].split(', ').map((n) => (ctx.usage?.includes(`<${n}`) ? `<${n}>` : dashed(n))).join(', ')}`;
  const conflict = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(text);
  if (conflict) return `${dashed(conflict[1])} and ${dashed(conflict[2])} cannot be used together`;
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}
