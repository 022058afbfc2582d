import { CairnError } from '@cairn/store';
import { detachForExport, exportToFile, planExport, summarize, writeExport } from '@cairn/transfer';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { formatBytes, info, printJson, progressBar } from '../../output.js';
import { EXIT } from '../../errors.js';

interface Args extends GlobalArgs {
  names: string[];
  output: string;
  'only-tips'?: boolean;
  gzip?: boolean;
}

export const expExportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'export <names..>',
  describe: 'Write experiments, their checkpoints and every object they need to one tarball',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'experiments to export' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'tarball to write (FILE.tar; .tar.gz is gzipped; - for stdout)' })
      .option('only-tips', { type: 'boolean', describe: "export only each experiment's last checkpoint and what it needs" })
      .option('gzip', { type: 'boolean', describe: 'gzip the tarball (default: when FILE ends in .gz or .tgz)' })
      .example('$0 exp export exp-1a2b3 -o run.tar', '')
      .example('$0 exp export exp-1a2b3 -o - | cairn --store other exp import -', '') as unknown as Argv<Args>,
  handler: async (args) => {
    const toStdout = args.output === '-';
    if (toStdout && args.json) throw new CairnError('BAD_INPUT', '--json cannot be used with -o - (stdout holds the tarball)');
    if (toStdout && process.stdout.isTTY) {
      throw new CairnError('BAD_INPUT', 'refusing to write a tarball to a terminal', { hint: 'redirect stdout, or pass -o FILE.tar' });
    }
    // Planned under the store lock; the objects are then read from a detached
    // copy holding the packs open, so the lock is free however long the output
    // takes (a slow pipe, a reader stopped with Ctrl+Z) and no exp run waits.
    const { plan, source } = await withStore(args, async (store) => {
      const plan = await planExport(store, args.names, { onlyTips: args['only-tips'] });
      return { plan, source: await detachForExport(store, plan) };
    });
    const bar = progressBar(args, 'Exporting', plan.manifest.objectBytes);
    const onProgress = (done: number) => bar.update(done);
    // Ctrl+C: the half-written tarball is deleted, then the exit is at once (the store was only read).
    const abort = new AbortController();
    const interrupted = () => {
      bar.stop();
      abort.abort();
      process.stderr.write(`cairn: error: interrupted${toStdout ? '' : '; no tarball written'}\n`);
      process.exit(EXIT.interrupted);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    try {
      if (toStdout) await writeExport(source, plan, process.stdout, { onProgress, gzip: args.gzip, end: false });
      else await exportToFile(source, plan, args.output, { onProgress, gzip: args.gzip, signal: abort.signal });
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      bar.stop();
      await source.close();
    }
    const summary = summarize(plan);
    if (args.json) return printJson({ output: args.output, ...summary });
    const n = summary.experiments.length;
    info(
      args,
      `Exported ${n} experiment${n === 1 ? '' : 's'} (${summary.checkpoints} checkpoint${summary.checkpoints === 1 ? '' : 's'}${args['only-tips'] ? ', tips only' : ''}; ` +
        `${summary.objects} objects, ${formatBytes(summary.bytes)}) to ${toStdout ? 'stdout' : args.output}.`,
    );
  },
};
