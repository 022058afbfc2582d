import { listingOnly, type AnyCommand, type LazyCommand } from '../listing.js';

/**
 * Subcommands load on demand: `exp show` should not pay for importing the
 * runner's report or the tarball code (start-up is most of a small
 * command's time). `exp --help` needs only the listings (commands.test.ts
 * checks that each equals its module's command, describe and aliases).
 */
const subcommands: Record<string, LazyCommand<() => Promise<AnyCommand>>> = {
  run: {
    command: 'run [stage]',
    describe: 'Run the stage, recording a checkpoint at every signal and at the end',
    load: () => import('./run.js').then((m) => m.expRunCommand),
  },
  show: {
    command: 'show',
    describe: 'The table of experiments and their checkpoints',
    load: () => import('./show.js').then((m) => m.expShowCommand),
  },
  apply: {
    command: 'apply <id>',
    describe: "Restore a checkpoint's outs, params and deps (code) into the workspace",
    load: () => import('./apply.js').then((m) => m.expApplyCommand),
  },
  diff: {
    command: 'diff [a] [b]',
    describe: "Params, metrics, outs and deps that differ (default: last experiment's tip vs workspace)",
    load: () => import('./diff.js').then((m) => m.expDiffCommand),
  },
  list: {
    command: 'list',
    aliases: ['ls'],
    describe: 'Experiment names with their tip and checkpoint count',
    load: () => import('./list.js').then((m) => m.expListCommand),
  },
  rename: {
    command: 'rename <old> <new>',
    describe: 'Rename an experiment (a name in use is refused)',
    load: () => import('./rename.js').then((m) => m.expRenameCommand),
  },
  remove: {
    command: 'remove [names..]',
    aliases: ['rm'],
    describe: 'Drop experiments (their data goes at the next cairn gc)',
    load: () => import('./remove.js').then((m) => m.expRemoveCommand),
  },
  plots: {
    command: 'plots [names..]',
    describe: 'Write one self-contained HTML page: every metric against step, one line per experiment',
    load: () => import('./plots.js').then((m) => m.expPlotsCommand),
  },
  export: {
    command: 'export <names..>',
    describe: 'Write experiments, their checkpoints and every object they need to one tarball',
    load: () => import('./export.js').then((m) => m.expExportCommand),
  },
  import: {
    command: 'import <file>',
    describe: 'Add the experiments of an export tarball (plain or gzipped; - for stdin) to the store',
    load: () => import('./import.js').then((m) => m.expImportCommand),
  },
  push: {
    command: 'push [names..]',
    describe: 'Send experiments, their checkpoints and the objects the remote lacks; move its refs (fast-forward only unless --force)',
    load: () => import('./push.js').then((m) => m.expPushCommand),
  },
  pull: {
    command: 'pull [names..]',
    describe: 'Fetch experiments and the objects this store lacks from a remote, verified before any experiment changes here',
    load: () => import('./pull.js').then((m) => m.expPullCommand),
  },
};

/** Subcommand names by alias. */
const byAlias = new Map(Object.entries(subcommands).flatMap(([name, c]) => (c.aliases ?? []).map((a) => [a, name] as const)));

/**
 * The subcommand `sub` (name or alias) loaded, or when `sub` is not one (help,
 * a typo) every subcommand: listed only (see listingOnly) if `listings`, else loaded.
 */
export async function loadExpSubcommands(sub: string | undefined, listings: boolean): Promise<AnyCommand[]> {
  const name = sub === undefined ? undefined : (byAlias.get(sub) ?? sub);
  if (name !== undefined && Object.hasOwn(subcommands, name)) return [await subcommands[name].load()];
  if (listings) return Object.values(subcommands).map(listingOnly);
  return Promise.all(Object.values(subcommands).map((c) => c.load()));
}

/** The `exp` command with the subcommands of loadExpSubcommands. */
export async function loadExpCommand(sub: string | undefined, listings: boolean): Promise<AnyCommand> {
  const loaded = await loadExpSubcommands(sub, listings);
  return {
    command: 'exp <command>',
    describe: 'Checkpoint experiments: run, show, apply, diff, list, rename, remove, plots, export, import, push, pull',
    builder: (y) => {
      for (const c of loaded) y = y.command(c as never);
      return y.demandCommand(1, 'name an exp command: run, show, apply, diff, list, rename, remove, plots, export, import, push or pull');
    },
    handler: () => {},
  };
}
