import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { showData, type ShowExperiment } from '@cairn/lineage';
import { loadReportAssets, renderReport, writeReportFile } from '@cairn/runner';
import { CairnError } from '@cairn/store';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../../context.js';
import { printJson } from '../../output.js';

interface Args extends GlobalArgs {
  names?: string[];
  output: string;
}

export const DEFAULT_PLOTS_FILE = 'cairn-plots.html';

/** The experiments named, in the order named (each once); every experiment when none is. */
function select(all: ShowExperiment[], names: string[] | undefined): ShowExperiment[] {
  if (!names?.length) return all;
  const byName = new Map(all.map((e) => [e.name, e]));
  const missing = names.filter((n) => !byName.has(n));
  if (missing.length) {
    throw new CairnError('NOT_FOUND', `no experiment named ${missing.map((n) => `'${n}'`).join(', ')}`, { hint: 'see cairn exp show for the names' });
  }
  return [...new Set(names)].map((n) => byName.get(n)!);
}

export const expPlotsCommand: CommandModule<GlobalArgs, Args> = {
  command: 'plots [names..]',
  describe: 'Write one self-contained HTML page: every metric against step, one line per experiment',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, describe: 'experiments to plot (default: all)' })
      .option('output', { alias: 'o', type: 'string', default: DEFAULT_PLOTS_FILE, describe: "the HTML file to write ('-': stdout)" }) as unknown as Argv<Args>,
  handler: async (args) => {
    const all = await withStore(args, (store) => showData(store));
    const experiments = select(all, args.names);
    const html = renderReport(experiments, { assets: loadReportAssets(), all, generated: new Date().toISOString() });
    if (args.output === '-') {
      process.stdout.write(html);
      return;
    }
    const file = path.resolve(args.output);
    await writeReportFile(file, html);
    const url = pathToFileURL(file).href;
    if (args.json) printJson({ path: file, url, experiments: experiments.map((e) => e.name) });
    else if (!args.quiet) process.stdout.write(`${url}\n`);
  },
};
