import { applyCheckpoint } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import { findStoreDir, findWorkspace, type GlobalArgs } from '../../context.js';
import { info, printJson } from '../../output.js';

interface Args extends GlobalArgs {
  id: string;
  force?: boolean;
}

export const expApplyCommand: CommandModule<GlobalArgs, Args> = {
  command: 'apply <id>',
  describe: "Restore a checkpoint's outs, params and deps (code) into the workspace",
  builder: (y) =>
    y
      .positional('id', { type: 'string', demandOption: true, describe: 'checkpoint ID or prefix, or experiment name (its tip)' })
      .option('force', { alias: 'f', type: 'boolean', describe: 'overwrite edits made since the last run or apply' }) as Argv<Args>,
  handler: async (args) => {
    const r = await applyCheckpoint({ workspace: findWorkspace(), storeDir: findStoreDir(args), ref: args.id, force: args.force });
    if (args.json) return printJson(r);
    for (const n of r.notes) info(args, n);
    info(args, `Applied checkpoint '${r.checkpoint.slice(0, 7)}' of '${r.experiment}': ${r.restored.join(', ') || 'nothing to restore'}.`);
  },
};
