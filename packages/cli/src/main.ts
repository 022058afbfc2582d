import yargs, { type Argv } from 'yargs';
import { reportError, EXIT } from './errors.js';
import type { GlobalArgs } from './context.js';
import { COMMAND_NAMES, commandWords, loadCommands } from './commands/index.js';

function build(argv: string[], commands: Awaited<ReturnType<typeof loadCommands>>): Argv<GlobalArgs> {
  let y = yargs(argv)
    .scriptName('cairn')
    .usage('$0 <command> [options]\n\nRecord every checkpoint of an ML training run in a content-addressed store, without git.')
    .option('store', { type: 'string', describe: 'store folder (default: nearest .cairn/, or CAIRN_STORE)', global: true })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print only data', global: true })
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'print details, and stack traces on errors', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true }) as Argv<GlobalArgs>;
  for (const c of commands) y = y.command(c as never);
  return y
    .demandCommand(1, 'name a command (see cairn --help)')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // Errors from handlers pass through; a message alone is a usage error.
      if (err) throw err;
      throw new UsageError(msg);
    });
}

class UsageError extends Error {}

/** Runs the CLI with `argv` (no node/script prefix) and exits with SPEC's exit codes. */
export async function run(argv: string[]): Promise<void> {
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  let code: number = EXIT.ok;
  try {
    await build(argv, await loadCommands(argv)).parseAsync();
  } catch (err) {
    if (err instanceof UsageError || (err as Error)?.name === 'YError') {
      const first = String((err as Error).message).split('\n')[0];
      process.stderr.write(`cairn: error: ${first}\n`);
      const words = commandWords(argv);
      const known = COMMAND_NAMES.includes(words[0]);
      process.stderr.write(`hint: see cairn ${known ? `${words[0]} ` : ''}--help\n`);
      code = EXIT.usage;
    } else {
      code = reportError(err, verbose);
    }
  }
  process.exitCode = code;
}

