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
      .option('repair', {
        type: 'boolean',
        describe: 'first rebuild the index from the packs, keeping every object that verifies; damaged packs, an unreadable index and damaged refs move to quarantine/',
      }),
  handler: async (args) => {
    const { repair, report } = await withStore(
      args,
      async (store) => {
        const repair = args.repair ? await store.repair() : undefined;
        const report = await store.verify({ readData: args['read-data'] });
        // Records the store holds intact may still be refused by the commands that read them (unsafe paths).
        const lineage = await verifyExperiments(store);
        return { repair, report: { ...report, ok: report.ok && lineage.length === 0, problems: [...report.problems, ...lineage] } };
      },
      // An index LevelDB cannot open is what --repair is for: it is moved aside, not an error.
      { repairIndex: !!args.repair },
    );
    if (args.json) printJson({ repair, ...report });
    else {
      if (repair) {
        if (repair.indexQuarantined) info(args, `The index could not be read: moved it to ${repair.indexQuarantined}.`);
        info(args, `Rebuilt the index: ${repair.objectsIndexed} objects from ${repair.packsRead} intact packs.`);
        for (const p of repair.packsDamaged) {
          info(args, `damaged pack ${p.path} (${p.reason}): ${p.salvaged} objects kept, ${p.lost} lost${p.quarantinedTo ? `; moved to ${p.quarantinedTo}` : ''}`);
        }
        if (repair.packsDamaged.length > 0) {
          info(args, `Salvaged ${repair.objectsSalvaged} objects from ${repair.packsDamaged.length} damaged packs into ${repair.packsWritten} new packs; ${repair.objectsLost} lost.`);
        }
        for (const r of repair.refsQuarantined) info(args, `damaged ref file ${r.path} (${r.reason}): moved to ${r.movedTo}`);
        if (repair.quarantine) info(args, `Quarantined in ${repair.quarantine} (nothing was deleted).`);
      }
      for (const n of report.notes) info(args, `note: ${n}`);
      for (const p of report.problems) process.stdout.write(`${p.where}: ${p.message}\n`);
      info(args, `${report.ok ? 'ok' : 'FAILED'}: ${report.packsChecked} packs, ${report.objectsChecked} objects, ${formatBytes(report.bytesRead)} read, ${report.problems.length} problems`);
    }
    if (!report.ok) throw new ExitCode(EXIT.failed);
  },
};
