import { parseMetricArgs, signalCheckpoint } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';

interface Args extends GlobalArgs {
  metric?: string[];
}

export const checkpointCommand: CommandModule<GlobalArgs, Args> = {
  command: 'checkpoint',
  describe: 'Signal a checkpoint from inside cairn exp run (a no-op outside a run)',
  builder: (y) =>
    y.option('metric', { alias: 'm', type: 'string', array: true, describe: 'k=v, value read as YAML (0.3 is a number)' }) as Argv<Args>,
  handler: async (args) => {
    await signalCheckpoint(process.env, parseMetricArgs(args.metric ?? []));
  },
};
