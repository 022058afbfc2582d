import { listExperiments } from '@cairn/lineage';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { printJson, warnDamagedRef } from '../../output.js';
import { remoteOption, type RemoteArgs } from './remote-args.js';

interface Row {
  name: string;
  tip: string | null;
  parent: string | null;
  checkpoints: number;
  updated: string;
}

async function remoteRows(args: RemoteArgs): Promise<Row[]> {
  // Only a listing of a remote pays for loading the remote code.
  const { resolveRemote, withRemote } = await import('../../remotes.js');
  const { listRemoteExperiments } = await import('@cairn/transfer');
  const remote = await resolveRemote(args, args.remote);
  return withRemote(remote, (backend) => listRemoteExperiments(backend, { remoteName: remote.name }));
}

export const expListCommand: CommandModule<GlobalArgs, RemoteArgs> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'Experiment names with their tip and checkpoint count',
  builder: (y) => remoteOption(y, 'list the experiments on this remote instead (a name from cairn remote list, or a URL)') as Argv<RemoteArgs>,
  handler: async (args) => {
    const exps: Row[] = args.remote !== undefined ? await remoteRows(args) : await withStore(args, (store) => listExperiments(store, { onDamaged: warnDamagedRef }));
    if (args.json) return printJson(exps.map((e) => ({ name: e.name, tip: e.tip, parent: e.parent, checkpoints: e.checkpoints })));
    if (exps.length === 0) return void process.stdout.write(args.remote !== undefined ? 'No experiments on the remote.\n' : 'No experiments yet: run cairn exp run.\n');
    const { default: Table } = await import('cli-table3'); // not for --json
    const table = new Table({ head: ['name', 'tip', 'parent', 'checkpoints', 'updated'], style: { head: [], border: [], compact: true } });
    for (const e of exps) table.push([e.name, e.tip?.slice(0, 7) ?? '-', e.parent?.slice(0, 7) ?? '-', String(e.checkpoints), e.updated]);
    process.stdout.write(`${table.toString()}\n`);
  },
};
