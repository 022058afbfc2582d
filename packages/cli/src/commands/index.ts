import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';

type Loader = (sub: string | undefined) => Promise<CommandModule<GlobalArgs, any>>;

/** Top-level commands, each imported only when it runs (or all, for help and typos). */
const loaders: Record<string, Loader> = {
  init: () => import('./init.js').then((m) => m.initCommand),
  exp: (sub) => import('./exp/index.js').then((m) => m.loadExpCommand(sub)),
  checkpoint: () => import('./checkpoint.js').then((m) => m.checkpointCommand),
  store: () => import('./store.js').then((m) => m.storeCommand),
  fsck: () => import('./fsck.js').then((m) => m.fsckCommand),
  gc: () => import('./gc.js').then((m) => m.gcCommand),
};

export const COMMAND_NAMES = Object.keys(loaders);

/** Global options that take a value, so their value is not mistaken for a command word. */
const VALUE_OPTIONS = new Set(['--store']);

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

export async function loadCommands(argv: string[]): Promise<CommandModule<GlobalArgs, any>[]> {
  const [cmd, sub] = commandWords(argv);
  if (cmd !== undefined && loaders[cmd]) return [await loaders[cmd](sub)];
  return Promise.all(Object.values(loaders).map((l) => l(undefined)));
}
