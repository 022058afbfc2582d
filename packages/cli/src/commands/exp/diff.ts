import { diffExperiments, type DiffResult, type PathChange, type ValueChange } from '@cairn/runner';
import Table from 'cli-table3';
import type { Argv, CommandModule } from 'yargs';
import { findStoreDir, findWorkspace, type GlobalArgs } from '../../context.js';
import { formatBytes, printJson } from '../../output.js';
import { formatValue } from '../../show-table.js';

interface Args extends GlobalArgs {
  a?: string;
  b?: string;
  md?: boolean;
}

function rows(r: DiffResult): string[][] {
  const out: string[][] = [];
  const values = (kind: string, m: Record<string, ValueChange>) => {
    for (const [k, c] of Object.entries(m)) out.push([kind, k, formatValue(c.old), formatValue(c.new), c.diff === undefined ? '-' : formatValue(c.diff)]);
  };
  const paths = (kind: string, m: Record<string, PathChange>) => {
    const show = (e: PathChange['old']) => (e ? `${e.id.slice(0, 7)} (${formatBytes(e.size)})` : '-');
    for (const [k, c] of Object.entries(m)) out.push([kind, k, show(c.old), show(c.new), c.old && c.new ? formatBytes(c.new.size - c.old.size).replace(/^(?!-)/, '+') : '-']);
  };
  values('param', r.params);
  values('metric', r.metrics);
  paths('out', r.outs);
  paths('dep', r.deps);
  return out;
}

export const expDiffCommand: CommandModule<GlobalArgs, Args> = {
  command: 'diff [a] [b]',
  describe: 'Params, metrics, outs and deps that differ (default: last experiment\'s tip vs workspace)',
  builder: (y) =>
    y
      .positional('a', { type: 'string', describe: 'checkpoint or experiment (default: tip of the last experiment)' })
      .positional('b', { type: 'string', describe: 'checkpoint or experiment (default: the workspace)' })
      .option('md', { type: 'boolean', describe: 'print a Markdown table' }) as Argv<Args>,
  handler: async (args) => {
    const r = await diffExperiments({ workspace: findWorkspace(), storeDir: findStoreDir(args), a: args.a, b: args.b });
    if (args.json) return printJson({ params: r.params, metrics: r.metrics, outs: r.outs, deps: r.deps });
    const body = rows(r);
    const head = ['', 'name', r.a, r.b, 'change'];
    if (args.md) {
      process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => ' --- ').join('|')}|\n`);
      for (const row of body) process.stdout.write(`| ${row.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |\n`);
      return;
    }
    if (body.length === 0) return void process.stdout.write(`No differences between ${r.a} and ${r.b}.\n`);
    const table = new Table({ head, style: { head: [], border: [], compact: true } });
    table.push(...body);
    process.stdout.write(`${table.toString()}\n`);
  },
};
