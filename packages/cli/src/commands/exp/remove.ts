import { listExperiments, removeExperiments } from '@cairn/lineage';
import { refuseRunning } from '@cairn/runner';
import { CairnError } from '@cairn/store';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { info, printJson, warnDamagedRef } from '../../output.js';
import { remoteOption, type RemoteArgs } from './remote-args.js';

/** `exp remove -r`: drops refs on the remote only; nothing here changes. */
async function removeOnRemote(args: Args, names: string[]): Promise<void> {
  if (args.all) throw new CairnError('BAD_INPUT', '--all is not taken with -r; name the experiments to remove from the remote');
  if (names.length === 0) throw new CairnError('BAD_INPUT', 'name the experiments to remove from the remote');
  const { resolveRemote, withRemote } = await import('../../remotes.js');
  const { removeRemoteExperiments } = await import('@cairn/transfer');
  const remote = await resolveRemote(args, args.remote);
  const removed = await withRemote(remote, (backend) => removeRemoteExperiments(backend, names, { remoteName: remote.name }));
  if (args.json) return printJson(removed);
  info(args, `Removed ${removed.map((n) => `'${n}'`).join(', ')} from remote '${remote.name}'. Their data goes when the remote is collected.`);
}

interface Args extends RemoteArgs {
  names?: string[];
  all?: boolean;
}

export const expRemoveCommand: CommandModule<GlobalArgs, Args> = {
  command: 'remove [names..]',
  aliases: ['rm'],
  describe: 'Drop experiments (their data goes at the next cairn gc)',
  builder: (y) =>
    remoteOption(y, 'remove the experiments from this remote instead (a name from cairn remote list, or a URL)')
      .positional('names', { type: 'string', array: true })
      .option('all', { type: 'boolean', describe: 'remove every experiment' }) as unknown as Argv<Args>,
  handler: async (args) => {
    const names = args.names ?? [];
    if (args.remote !== undefined) return removeOnRemote(args, names);
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
