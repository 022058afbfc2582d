import { showData } from '@cairn/lineage';
import { listRunning, readWorkspaceState } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import { findStoreDir, findWorkspace, withStore, type GlobalArgs } from '../../context.js';
import { printJson, warnDamagedRef } from '../../output.js';

interface Args extends GlobalArgs {
  csv?: boolean;
  md?: boolean;
  'sort-by'?: string;
  'sort-order'?: 'asc' | 'desc';
  num?: number;
  all?: boolean;
  pager?: boolean;
  'only-changed'?: boolean;
  precision?: number;
}

export const expShowCommand: CommandModule<GlobalArgs, Args> = {
  command: 'show',
  describe: 'The table of experiments and their checkpoints',
  builder: (y) =>
    y
      .option('csv', { type: 'boolean', describe: 'print CSV' })
      .option('md', { type: 'boolean', describe: 'print a Markdown table' })
      .option('sort-by', { type: 'string', describe: 'sort experiments by this metric or param of their tip' })
      .option('sort-order', { choices: ['asc', 'desc'] as const, default: 'asc' as const })
      .option('num', { alias: 'n', type: 'number', describe: 'show at most K checkpoints per experiment' })
      .option('all', { type: 'boolean', describe: 'every experiment and checkpoint (the default)' })
      .option('only-changed', { type: 'boolean', describe: 'only metrics and params whose values differ between checkpoints' })
      .option('precision', { type: 'number', describe: 'significant digits of numbers (default 5)' })
      .option('pager', { type: 'boolean', default: true, describe: 'page long tables on a TTY (--no-pager to disable)' })
      .conflicts('csv', ['md', 'json'])
      .conflicts('md', 'json') as unknown as Argv<Args>,
  handler: async (args) => {
    const workspace = await readWorkspaceState(findWorkspace());
    const experiments = await withStore(args, (store) => showData(store, { onDamaged: warnDamagedRef }));
    const running = await listRunning(findStoreDir(args));
    if (args.json) return printJson({ workspace, experiments: experiments.map((e) => ({ ...e, running: running.has(e.name) })) });
    // The renderers (and cli-table3) load only when a table is printed, not for --json.
    const [{ buildRows, renderCsv, renderMarkdown, renderTable }, { printPaged }] = await Promise.all([import('../../show-table.js'), import('../../pager.js')]);
    const rows = buildRows({ workspace, experiments, running }, { limit: args.num, sortBy: args['sort-by'], sortOrder: args['sort-order'] });
    const opts = { precision: args.precision, onlyChanged: args['only-changed'], color: !!process.stdout.isTTY && !process.env.NO_COLOR };
    if (args.csv) process.stdout.write(renderCsv(rows, opts));
    else if (args.md) process.stdout.write(renderMarkdown(rows, opts));
    else await printPaged(`${renderTable(rows, opts)}\n`, args.pager !== false);
  },
};
