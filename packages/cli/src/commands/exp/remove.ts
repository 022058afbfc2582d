import { listExperiments, removeExperiments } from '@cairn/lineage';
import { refuseRunning } from '@cairn/runner';
import { CairnError } from '@cairn/store';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { info, printJson, warnDamagedRef } from '../../output.js';

interface Args extends GlobalArgs {
  names?: string[];
  all?: boolean;
}

export const expRemoveCommand: CommandModule<GlobalArgs, Args> = {
  command: 'remove [names..]',
  aliases: ['rm'],
  describe: 'Drop experiments (their data goes at the next cairn gc)',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true })
      .option('all', { type: 'boolean', describe: 'remove every experiment' }) as Argv<Args>,
  handler: async (args) => {
    const names = args.names ?? [];
    if (!args.all && names.length === 0) throw new CairnError('BAD_INPUT', 'name the experiments to remove, or pass --all');
    if (args.all && names.length > 0) throw new CairnError('BAD_INPUT', '--all takes no names');
    const removed = await withStore(args, async (store) => {
      const targets = args.all ? (await listExperiments(store, { onDamaged: warnDamagedRef })).map((e) => e.name) : names;
      await refuseRunning(store.dir, targets);
      return targets.length ? removeExperiments(store, targets) : [];
    });
    if (args.json) return printJson(removed);
    info(args, removed.length ? `Removed ${removed.map((n) => `'${n}'`).join(', ')}. Run cairn gc to free their space.` : 'No experiments to remove.');
  },
};
