import { CairnError, type ObjectBackend } from '@cairn/store';
import { detachForPush, planPush, sendPush, type PushedExperiment } from '@cairn/transfer';
import type { Argv, CommandModule } from 'yargs';
import { withStore } from '../../context.js';
import { ExitCode } from '../../errors.js';
import { formatBytes, info, printJson } from '../../output.js';
import { resolveRemote, withRemote } from '../../remotes.js';
import { remoteOption, type RemoteArgs } from './remote-args.js';

interface Args extends RemoteArgs {
  names?: string[];
  all?: boolean;
  force?: boolean;
}

function describe(e: PushedExperiment, remote: string): string {
  switch (e.action) {
    case 'created':
      return `Pushed experiment '${e.name}' to '${remote}' (new there).`;
    case 'fast-forward':
      return `Pushed experiment '${e.name}' to '${remote}'.`;
    case 'forced':
      return `Pushed experiment '${e.name}' to '${remote}', replacing the one there (--force).`;
    case 'unchanged':
      return `Experiment '${e.name}' is up to date on '${remote}'.`;
    case 'diverged':
      return `Experiment '${e.name}' was not pushed.`;
  }
}

export const expPushCommand: CommandModule<RemoteArgs, Args> = {
  command: 'push [names..]',
  describe: 'Send experiments, their checkpoints and the objects the remote lacks; move its refs (fast-forward only unless --force)',
  builder: (y) =>
    remoteOption(y)
      .positional('names', { type: 'string', array: true })
      .option('all', { type: 'boolean', describe: 'push every experiment' })
      .option('force', { type: 'boolean', describe: "replace the remote's experiment even where it has checkpoints this one lacks" }) as unknown as Argv<Args>,
  handler: async (args) => {
    const names = args.names ?? [];
    if (!args.all && names.length === 0) throw new CairnError('BAD_INPUT', 'name the experiments to push, or pass --all');
    if (args.all && names.length > 0) throw new CairnError('BAD_INPUT', '--all takes no names');
    const remote = await resolveRemote(args, args.remote);
    const report = await withRemote(remote, async (backend) => {
      // The remote's indexes (what it holds) are read while the refs are and the plan is made: the first object sent needs them.
      (backend as { prefetch?: () => void }).prefetch?.();
      // Planned under the store lock, sent from a detached copy: a long upload never keeps an exp run from recording checkpoints.
      // The remote's refs are read before the lock, so planning under it is local reads only and a running exp run's checkpoint never waits on the network.
      const planning = await withRefsRead(backend);
      const { plan, reader } = await withStore(args, async (store) => {
        const plan = await planPush(store, planning, args.all ? 'all' : names, { force: args.force, remoteName: remote.name });
        return { plan, reader: await detachForPush(store, plan) };
      });
      try {
        return await sendPush(reader, backend, plan);
      } finally {
        await reader.close();
      }
    });
    const diverged = report.experiments.filter((e) => e.action === 'diverged');
    if (args.json) printJson(report);
    else {
      for (const e of report.experiments) info(args, describe(e, remote.name));
      info(args, `Sent ${report.objects} object${report.objects === 1 ? '' : 's'} (${formatBytes(report.bytes)}, ${report.bytes} bytes).`);
    }
    for (const e of diverged) process.stderr.write(`cairn: error: experiment '${e.name}' on remote '${remote.name}' diverged; rename it or pull first (or push --force)\n`);
    if (diverged.length > 0) throw new ExitCode(1);
  },
};

/** The remote as planning sees it: its experiment refs as read now (the sends' compare-and-swap still checks them), the rest passed through. */
async function withRefsRead(backend: ObjectBackend): Promise<ObjectBackend> {
  const refs = new Map((await backend.refs.list('exp/')).map((r) => [r.name, r.id]));
  return {
    refs: { get: async (name: string) => refs.get(name) ?? null, set: (...a) => backend.refs.set(...a), delete: (...a) => backend.refs.delete(...a), list: (...a) => backend.refs.list(...a) },
    put: (...a) => backend.put(...a),
    get: (...a) => backend.get(...a),
    has: (...a) => backend.has(...a),
    stat: (...a) => backend.stat(...a),
    list: (...a) => backend.list(...a),
    flush: () => backend.flush(),
    close: () => backend.close(),
  };
}
