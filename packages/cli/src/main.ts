import yargs, { type Argv } from 'yargs';
import { reportError, EXIT } from './errors.js';
import type { GlobalArgs } from './context.js';
import { COMMAND_NAMES, commandWords, loadCommands } from './commands/index.js';
import { NotLoaded, type AnyCommand } from './commands/listing.js';
import { explainUsageError, recordShape, type UsageContext } from './usage.js';

interface YargsInternals {
  getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
}

/**
 * Stops yargs rendering a command's whole help each time it starts the
 * command's handler (20-30 ms of cliui, wrap-ansi and string-width per run).
 * yargs keeps that text only for a handler that shows help after it has
 * returned (yargs/yargs#1865); cairn's handlers never do, and the .fail below
 * throws, so yargs prints no help on failure either. --help does not use the
 * cache. It is an internal hook (Angular's CLI does the same, angular-cli#34087):
 * returns false, changing nothing, should yargs rename it (main.test.ts checks).
 */
export function skipHelpCache(y: Argv<any>): boolean {
  const usage = (y as unknown as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage !== 'function') return false;
  usage.cacheHelpMessage = () => {};
  return true;
}

/** Options every command takes. */
function globalOptions(y: Argv<any>): Argv<any> {
  return y
    .option('store', { type: 'string', describe: 'store folder (default: nearest .cairn/, or CAIRN_STORE)', global: true })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print only data', global: true })
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'print details, and stack traces on errors', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true });
}

/** The command argv ran (or tried to), with what it accepts, for a usage error's message. */
async function usageContext(argv: string[]): Promise<UsageContext> {
  const globals = recordShape(globalOptions as AnyCommand['builder']).options;
  const words = commandWords(argv);
  if (!COMMAND_NAMES.includes(words[0])) return { path: [], options: globals, argv };
  const [top] = await loadCommands(argv, { listings: false });
  let cmd = top;
  let shape = recordShape(top.builder);
  const path = [words[0]];
  const sub = words[1] === undefined ? undefined : shape.subcommands.get(words[1]);
  if (sub) {
    cmd = sub;
    path.push(words[1]);
    shape = recordShape(sub.builder);
  }
  return { path, usage: String(cmd.command), options: [...shape.options, ...globals], argv };
}

function build(argv: string[], commands: AnyCommand[]): Argv<GlobalArgs> {
  let y = globalOptions(
    yargs(argv)
      .scriptName('cairn')
      .usage('$0 <command> [options]\n\nRecord every checkpoint of an ML training run in a content-addressed store, without git.'),
  ) as Argv<GlobalArgs>;
  for (const c of commands) y = y.command(c as never);
  skipHelpCache(y);
  return y
    .demandCommand(1, 'name a command (see cairn --help)')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // Errors from handlers pass through; a message alone is a usage error, and so is
      // the string a .check() returns (yargs passes it as both message and error).
      if (err instanceof Error) throw err;
      throw new UsageError(msg ?? String(err));
    });
}

class UsageError extends Error {}

/** Parses argv and runs its command; should yargs run one that was only listed, argv is parsed again with every command loaded. */
async function parse(argv: string[]): Promise<void> {
  try {
    await build(argv, await loadCommands(argv)).parseAsync();
  } catch (err) {
    if (!(err instanceof NotLoaded)) throw err;
    await build(argv, await loadCommands(argv, { listings: false })).parseAsync();
  }
}

/**
 * A reader that went away (`cairn exp show | head -1`, a closed terminal)
 * must not crash cairn with a stack trace mid-command: a running training
 * keeps being recorded, and what was recorded stays consistent. Node reports
 * EPIPE as an 'error' event that, unhandled, kills the process; once a stream
 * is closed, later writes are dropped silently, as `git log | head` does.
 * Any other output error (a full disk under `> file`) still fails the command.
 */
export function tolerateClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
      process.exitCode = EXIT.failed;
      if (stream === process.stdout && !process.stderr.destroyed) process.stderr.write(`cairn: error: cannot write the output: ${err.message}\n`);
    });
  }
}

/** Runs the CLI with `argv` (no node/script prefix) and exits with the exit codes of docs/CLI.md. */
export async function run(argv: string[]): Promise<void> {
  tolerateClosedOutput();
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  let code: number = EXIT.ok;
  try {
    await parse(argv);
  } catch (err) {
    if (err instanceof UsageError || (err as Error)?.name === 'YError') {
      const message = String((err as Error).message);
      const words = commandWords(argv);
      const known = COMMAND_NAMES.includes(words[0]);
      const ctx = await usageContext(argv).catch((): UsageContext => ({ path: known ? [words[0]] : [], options: [], argv }));
      let first = explainUsageError(message, ctx);
      // yargs says only "Did you mean X?" for a mistyped command: name the word it means.
      const guess = /^Did you mean (.+)\?$/.exec(message.split('\n')[0]);
      const typo = known ? words[1] : words[0];
      if (guess && typo !== undefined) first = `unknown command '${typo}'; did you mean ${guess[1]}?`;
      process.stderr.write(`cairn: error: ${first}\n`);
      process.stderr.write(`hint: see cairn ${ctx.path.map((w) => `${w} `).join('')}--help\n`);
      code = EXIT.usage;
    } else {
      code = reportError(err, verbose);
    }
  }
  // An output error already reported keeps its failing code.
  if (code !== EXIT.ok || process.exitCode === undefined) process.exitCode = code;
}

