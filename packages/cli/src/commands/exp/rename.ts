import { renameExperiment } from '@cairn/lineage';
import { refuseRunning } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { info } from '../../output.js';

interface Args extends GlobalArgs {
  old: string;
  new: string;
}

export const expRenameCommand: CommandModule<GlobalArgs, Args> = {
  command: 'rename <old> <new>',
  describe: 'Rename an experiment (a name in use is refused)',
  builder: (y) => y.positional('old', { type: 'string', demandOption: true }).positional('new', { type: 'string', demandOption: true }) as Argv<Args>,
  handler: async (args) => {
    await withStore(args, async (store) => {
      await refuseRunning(store.dir, [args.old, args.new]);
      await renameExperiment(store, args.old, args.new);
    });
    info(args, `Renamed '${args.old}' to '${args.new}'.`);
  },
};
