import { CairnError } from '@cairn/store';
import { pullExperiments, type PulledExperiment } from '@cairn/transfer';
import type { Argv, CommandModule } from 'yargs';
import { withStore } from '../../context.js';
import { formatBytes, info, printJson } from '../../output.js';
import { resolveRemote, withRemote } from '../../remotes.js';
import { remoteOption, type RemoteArgs } from './remote-args.js';

interface Args extends RemoteArgs {
  names?: string[];
  all?: boolean;
}

function describe(e: PulledExperiment, remote: string): string {
  const what = `${e.checkpoints} checkpoint${e.checkpoints === 1 ? '' : 's'}`;
  switch (e.action) {
    case 'created':
      return `Pulled experiment '${e.name}' from '${remote}' (${what}).`;
    case 'fast-forward':
      return `Updated experiment '${e.name}' from '${remote}' (${what}).`;
    case 'unchanged':
      return `Experiment '${e.name}' is up to date.`;
    case 'ahead':
      return `Experiment '${e.name}' here is ahead of '${remote}'; unchanged (push it to update the remote).`;
  }
}

export const expPullCommand: CommandModule<RemoteArgs, Args> = {
  command: 'pull [names..]',
  describe: 'Fetch experiments and the objects this store lacks from a remote, verified before any experiment changes here',
  builder: (y) =>
    remoteOption(y)
      .positional('names', { type: 'string', array: true })
      .option('all', { type: 'boolean', describe: 'pull every experiment of the remote' }) as unknown as Argv<Args>,
  handler: async (args) => {
    const names = args.names ?? [];
    if (!args.all && names.length === 0) throw new CairnError('BAD_INPUT', 'name the experiments to pull, or pass --all');
    if (args.all && names.length > 0) throw new CairnError('BAD_INPUT', '--all takes no names');
    const remote = await resolveRemote(args, args.remote);
    // Lets a waiting checkpoint in between objects; the refs are compared and set after the last object.
    const report = await withStore(args, (store) => withRemote(remote, (backend) => pullExperiments(store, backend, args.all ? 'all' : names, { remoteName: remote.name })), {
      yieldToPriority: true,
    });
    if (args.json) return printJson(report);
    for (const e of report.experiments) info(args, describe(e, remote.name));
    info(args, `Received ${report.objects} new object${report.objects === 1 ? '' : 's'} (${formatBytes(report.bytes)}).`);
  },
};
