import { listingOnly, type AnyCommand, type LazyCommand } from './listing.js';

type Loader = (sub: string | undefined, listings: boolean) => Promise<AnyCommand>;

/**
 * Top-level commands, each imported only when it runs. Help, typos and a
 * missing command word need only the listings (commands.test.ts checks that
 * each equals its module's command, describe and aliases).
 */
const commands: Record<string, LazyCommand<Loader>> = {
  init: {
    command: 'init',
    describe: 'Create a store in .cairn/ here (or at --store)',
    load: () => import('./init.js').then((m) => m.initCommand),
  },
  exp: {
    command: 'exp <command>',
    describe: 'Checkpoint experiments: run, show, apply, diff, list, rename, remove, plots, export, import, push, pull',
    load: (sub, listings) => import('./exp/index.js').then((m) => m.loadExpCommand(sub, listings)),
  },
  remote: {
    command: 'remote <command>',
    describe: 'Name the places experiments are pushed to and pulled from: add, list, remove',
    load: () => import('./remote.js').then((m) => m.remoteCommand),
  },
  checkpoint: {
    command: 'checkpoint',
    describe: 'Signal a checkpoint from inside cairn exp run (a no-op outside a run)',
    load: () => import('./checkpoint.js').then((m) => m.checkpointCommand),
  },
  store: {
    command: 'store <command>',
    describe: 'Storage-only use: add, get, cat, ls, stats',
    load: () => import('./store.js').then((m) => m.storeCommand),
  },
  fsck: {
    command: 'fsck',
    describe: 'Check the store; --repair rebuilds the index from the packs',
    load: () => import('./fsck.js').then((m) => m.fsckCommand),
  },
  gc: {
    command: 'gc',
    describe: 'Delete what no experiment or name reaches; print bytes freed',
    load: () => import('./gc.js').then((m) => m.gcCommand),
  },
};

export const COMMAND_NAMES = Object.keys(commands);

/** Global options that take a value, so their value is not mistaken for a command word. */
const VALUE_OPTIONS = new Set(['--store', '--remote', '-r', '--endpoint']);

/** The non-option words of argv: the command path (`exp`, `show`). */
export function commandWords(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) words.push(a);
  }
  return words;
}

/**
 * The commands to give yargs for `argv`: the one it names (with only the exp
 * subcommand it names), else every command. Those that argv does not name are
 * only listed (see listingOnly) unless `listings` is false, which loads them
 * all, for when yargs entered a command that the argv scan missed.
 */
export async function loadCommands(argv: string[], { listings = true } = {}): Promise<AnyCommand[]> {
  const [cmd, sub] = commandWords(argv);
  if (cmd !== undefined && Object.hasOwn(commands, cmd)) return [await commands[cmd].load(sub, listings)];
  if (listings) return Object.values(commands).map(listingOnly);
  return Promise.all(Object.values(commands).map((c) => c.load(undefined, false)));
}
