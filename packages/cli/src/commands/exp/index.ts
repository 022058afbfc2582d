import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';

type Loader = () => Promise<CommandModule<GlobalArgs, any>>;

/**
 * Subcommands load on demand: `exp show` should not pay for importing the
 * runner's report or the tarball code (start-up is most of a small
 * command's time). Names and aliases map to their module.
 */
const loaders: Record<string, Loader> = {
  run: () => import('./run.js').then((m) => m.expRunCommand),
  show: () => import('./show.js').then((m) => m.expShowCommand),
  apply: () => import('./apply.js').then((m) => m.expApplyCommand),
  diff: () => import('./diff.js').then((m) => m.expDiffCommand),
  list: () => import('./list.js').then((m) => m.expListCommand),
  rename: () => import('./rename.js').then((m) => m.expRenameCommand),
  remove: () => import('./remove.js').then((m) => m.expRemoveCommand),
  plots: () => import('./plots.js').then((m) => m.expPlotsCommand),
  export: () => import('./export.js').then((m) => m.expExportCommand),
  import: () => import('./import.js').then((m) => m.expImportCommand),
};
const aliases: Record<string, string> = { ls: 'list', rm: 'remove' };

/** The `exp` command with the subcommand `sub` loaded (every one when `sub` is not a subcommand, e.g. for --help). */
export async function loadExpCommand(sub: string | undefined): Promise<CommandModule<GlobalArgs, GlobalArgs>> {
  const name = sub === undefined ? undefined : (aliases[sub] ?? sub);
  const subcommands = await Promise.all(name !== undefined && loaders[name] ? [loaders[name]()] : Object.values(loaders).map((l) => l()));
  return {
    command: 'exp <command>',
    describe: 'Checkpoint experiments: run, show, apply, diff, list, rename, remove, plots, export, import',
    builder: (y) => {
      for (const c of subcommands) y = y.command(c as never);
      return y.demandCommand(1, 'name an exp command: run, show, apply, diff, list, rename, remove, plots, export or import');
    },
    handler: () => {},
  };
}
