import { listExperiments } from '@cairn/lineage';
import type { CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { printJson, warnDamagedRef } from '../../output.js';

export const expListCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'Experiment names with their tip and checkpoint count',
  handler: async (args) => {
    const exps = await withStore(args, (store) => listExperiments(store, { onDamaged: warnDamagedRef }));
    if (args.json) return printJson(exps.map((e) => ({ name: e.name, tip: e.tip, parent: e.parent, checkpoints: e.checkpoints })));
    if (exps.length === 0) return void process.stdout.write('No experiments yet: run cairn exp run.\n');
    const { default: Table } = await import('cli-table3'); // not for --json
    const table = new Table({ head: ['name', 'tip', 'parent', 'checkpoints', 'updated'], style: { head: [], border: [], compact: true } });
    for (const e of exps) table.push([e.name, e.tip?.slice(0, 7) ?? '-', e.parent?.slice(0, 7) ?? '-', String(e.checkpoints), e.updated]);
    process.stdout.write(`${table.toString()}\n`);
  },
};
