import { CairnError } from '@cairn/store';
import { importExperiments, openTarball, type ImportedExperiment } from '@cairn/transfer';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { formatBytes, info, printJson, progressBar } from '../../output.js';

interface Args extends GlobalArgs {
  file: string;
  force?: boolean;
}

function describe(e: ImportedExperiment): string {
  const what = `${e.checkpoints} checkpoint${e.checkpoints === 1 ? '' : 's'}${e.shallow ? ', tip only' : ''}`;
  switch (e.action) {
    case 'created':
      return `Imported experiment '${e.as}' (${what}).`;
    case 'renamed':
      return `Imported experiment '${e.name}' as '${e.as}' (${what}): the name '${e.name}' is taken by a different experiment.`;
    case 'replaced':
      return `Replaced experiment '${e.as}' with the imported one (${what}).`;
    case 'unchanged':
      return e.as === e.name ? `Experiment '${e.as}' is already in the store; unchanged.` : `Experiment '${e.name}' is already in the store as '${e.as}'; unchanged.`;
  }
}

export const expImportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'import <file>',
  describe: 'Add the experiments of an export tarball (plain or gzipped; - for stdin) to the store',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'tarball written by cairn exp export (- for stdin)' })
      .option('force', { type: 'boolean', describe: 'replace experiments of the same name instead of importing as <name>-1' }) as unknown as Argv<Args>,
  handler: async (args) => {
    // yargs reads a lone `-` as an empty value; it means stdin here.
    if (args.file === '' && process.argv.includes('-')) args.file = '-';
    if (args.file === '-' && process.stdin.isTTY) {
      throw new CairnError('BAD_INPUT', 'refusing to read a tarball from a terminal', { hint: 'pipe one in, or name the file' });
    }
    const input = await openTarball(args.file);
    const result = await withStore(args, async (store) => {
      let bar: ReturnType<typeof progressBar> | undefined;
      try {
        return await importExperiments(store, input, {
          force: args.force,
          onManifest: (m) => (bar = progressBar(args, 'Importing', m.objectBytes)),
          onProgress: (done) => bar?.update(done),
        });
      } finally {
        bar?.stop();
      }
      // Lets a waiting checkpoint in between objects; the refs are read and set after the last object, under one hold of the lock.
    }, { yieldToPriority: true }).finally(() => input.destroy());
    if (args.json) return printJson(result);
    for (const e of result.experiments) info(args, describe(e));
    info(args, `${result.newObjects} new object${result.newObjects === 1 ? '' : 's'} (${formatBytes(result.newBytes)}) of ${result.objects} in the tarball.`);
  },
};
