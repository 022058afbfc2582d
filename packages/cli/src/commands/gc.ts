import type { CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../context.js';
import { formatBytes, printJson } from '../output.js';

interface Args extends GlobalArgs {
  'dry-run'?: boolean;
}

export const gcCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gc',
  describe: 'Delete what no experiment or name reaches; print bytes freed',
  builder: (y) => y.option('dry-run', { type: 'boolean', describe: 'only report what would be freed' }),
  handler: async (args) => {
    // Lets a waiting checkpoint in between pack rewrites (it marks again after each step aside).
    const r = await withStore(args, (store) => store.gc({ dryRun: args['dry-run'] }), { yieldToPriority: true });
    if (args.json) return printJson(r);
    const verb = r.dryRun ? 'Would free' : 'Freed';
    process.stdout.write(`${verb} ${formatBytes(r.bytesFreed)} (${r.bytesFreed} bytes): ${r.deadObjects} unreachable objects, ${r.packsDeleted} packs deleted, ${r.packsRewritten} rewritten; ${r.liveObjects} objects kept.\n`);
  },
};
