import { runExperiment } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import { findStoreDir, findWorkspace, type GlobalArgs } from '../../context.js';
import { ExitCode } from '../../errors.js';

interface Args extends GlobalArgs {
  stage?: string;
  name?: string;
  rev?: string;
  reset?: boolean;
  set?: string[];
  'max-checkpoints'?: number;
}

export const expRunCommand: CommandModule<GlobalArgs, Args> = {
  command: 'run [stage]',
  describe: 'Run the stage, recording a checkpoint at every signal and at the end',
  builder: (y) =>
    y
      .positional('stage', { type: 'string', describe: 'stage of cairn.yaml (default: the only one, or the one with checkpoint outs)' })
      .option('name', { alias: 'n', type: 'string', describe: 'name of the new experiment' })
      .option('rev', { type: 'string', describe: 'restore this checkpoint (outs, code, params, metrics files; ID, prefix or experiment name) and branch from it' })
      .option('reset', { type: 'boolean', describe: 'delete the checkpoint outs and start from scratch' })
      .option('set-param', { alias: 'S', type: 'string', array: true, describe: 'set a param before the run: key=value (YAML value)' })
      .option('max-checkpoints', { type: 'number', describe: 'stop the command after K new checkpoints' })
      .conflicts('rev', 'reset') as unknown as Argv<Args>,
  handler: async (args) => {
    const a = args as Args & { 'set-param'?: string[] };
    const storeDir = findStoreDir(args);
    // Ctrl+C and SIGTERM go to the command (in its own process group); cairn
    // stays to keep what was recorded and exit 130.
    let onInterrupt: () => void = () => {};
    const interrupt = new Promise<void>((resolve) => (onInterrupt = resolve));
    const handler = () => onInterrupt();
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    process.on('SIGHUP', handler);
    try {
      const result = await runExperiment({
        workspace: findWorkspace(),
        storeDir,
        stage: a.stage,
        name: a.name,
        rev: a.rev,
        reset: a.reset,
        set: a['set-param'],
        maxCheckpoints: a['max-checkpoints'],
        interrupt,
        onEvent: (e) => {
          if (e.type === 'warning') process.stderr.write(`cairn: warning: ${e.message}\n`);
          else if (!args.quiet) process.stdout.write(`${e.message}\n`);
        },
      });
      if (result.exitCode !== 0) {
        process.stderr.write(`cairn: error: ${result.reason}; ${result.checkpoints.length} checkpoint(s) of '${result.experiment}' recorded and kept\n`);
        throw new ExitCode(result.exitCode);
      }
      if (!args.quiet) {
        process.stdout.write(`Experiment '${result.experiment}': ${result.checkpoints.length} new checkpoint(s). See cairn exp show.\n`);
      }
    } finally {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    }
  },
};
