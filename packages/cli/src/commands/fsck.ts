import type { CommandModule } from 'yargs';
import { verifyExperiments } from '@cairn/lineage';
import { withStore, type GlobalArgs } from '../context.js';
import { ExitCode, EXIT } from '../errors.js';
import { formatBytes, info, printJson } from '../output.js';

interface Args extends GlobalArgs {
  'read-data'?: boolean;
  repair?: boolean;
}

export const fsckCommand: CommandModule<GlobalArgs, Args> = {
  command: 'fsck',
  describe: 'Check the store; --repair rebuilds the index from the packs',
  builder: (y) =>
    y
      .option('read-data', { type: 'boolean', describe: 'also re-hash every object against its ID' })
      .option('repair', { type: 'boolean', describe: 'rebuild the index from the pack files first' }),
  handler: async (args) => {
    const { repair, report } = await withStore(args, async (store) => {
      const repair = args.repair ? await store.repair() : undefined;
      const report = await store.verify({ readData: args['read-data'] });
      // Records the store holds intact may still be refused by the commands that read them (unsafe paths).
      const lineage = await verifyExperiments(store);
      return { repair, report: { ...report, ok: report.ok && lineage.length === 0, problems: [...report.problems, ...lineage] } };
    });
    if (args.json) printJson({ repair, ...report });
    else {
      if (repair) {
        info(args, `Rebuilt the index: ${repair.objectsIndexed} objects from ${repair.packsRead} packs.`);
        for (const s of repair.packsSkipped) info(args, `skipped damaged pack ${s}`);
      }
      for (const n of report.notes) info(args, `note: ${n}`);
      for (const p of report.problems) process.stdout.write(`${p.where}: ${p.message}\n`);
      info(args, `${report.ok ? 'ok' : 'FAILED'}: ${report.packsChecked} packs, ${report.objectsChecked} objects, ${formatBytes(report.bytesRead)} read, ${report.problems.length} problems`);
    }
    if (!report.ok) throw new ExitCode(EXIT.failed);
  },
};
