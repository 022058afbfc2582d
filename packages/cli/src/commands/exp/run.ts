import { runExperiment } from '@cairn/runner';
import type { Argv, CommandModule } from 'yargs';
import { findStoreDir, findWorkspace, type GlobalArgs } from '../../context.js';
import { ExitCode } from '../../errors.js';
import { CairnError } from '@cairn/store';
import { AutoPush } from '../../auto-push.js';

interface Args extends GlobalArgs {
  stage?: string;
  name?: string;
  rev?: string;
  reset?: boolean;
  set?: string[];
  'max-checkpoints'?: number;
  push?: boolean;
  remote?: string;
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
      .option('push', { type: 'boolean', describe: 'push the experiment after every checkpoint, in the background (default: on when CAIRN_AUTO_PUSH=1)' })
      .option('remote', { alias: 'r', type: 'string', requiresArg: true, describe: 'with --push: the remote (a name from cairn remote list, or a URL); default: the default remote' })
      .conflicts('rev', 'reset') as unknown as Argv<Args>,
  handler: async (args) => {
    const a = args as Args & { 'set-param'?: string[] };
    const storeDir = findStoreDir(args);
    const explicitPush = a.push === true;
    const autoPush = a.push ?? ['1', 'true', 'yes'].includes((process.env.CAIRN_AUTO_PUSH ?? '').toLowerCase());
    if (a.remote !== undefined && !autoPush) throw new CairnError('BAD_INPUT', '-r is taken only with --push (or CAIRN_AUTO_PUSH=1)');
    let pusher: AutoPush | undefined;
    let remoteName = '';
    if (autoPush) {
      // Resolved before the training starts: a remote that is not configured fails now, not after hours.
      const { resolveRemote } = await import('../../remotes.js');
      remoteName = (await resolveRemote(args, a.remote)).name;
      pusher = new AutoPush(remoteName, args.store, (m) => process.stderr.write(`cairn: warning: ${m}\n`));
    }
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
          if (e.type === 'checkpoint') pusher?.checkpoint(e.experiment);
        },
      });
      let pushFailed = false;
      if (pusher && result.exitCode === 130) pusher.stop();
      else if (pusher) {
        if (pusher.busy && !args.quiet) process.stdout.write(`Waiting for the push to '${remoteName}' to finish...\n`);
        const err = await pusher.finish();
        if (err !== null) {
          process.stderr.write(`cairn: warning: the checkpoints are safe here but not all on remote '${remoteName}' (${err}); push them with cairn exp push ${result.experiment}\n`);
          // Asked for on the command line, a push that did not happen is a failure; from CAIRN_AUTO_PUSH it is a convenience that warns.
          pushFailed = explicitPush;
        } else if (result.checkpoints.length > 0 && !args.quiet) process.stdout.write(`Pushed experiment '${result.experiment}' to '${remoteName}'.\n`);
      }
      if (result.exitCode !== 0) {
        process.stderr.write(`cairn: error: ${result.reason}; ${result.checkpoints.length} checkpoint(s) of '${result.experiment}' recorded and kept\n`);
        throw new ExitCode(result.exitCode);
      }
      if (!args.quiet) {
        process.stdout.write(`Experiment '${result.experiment}': ${result.checkpoints.length} new checkpoint(s). See cairn exp show.\n`);
      }
      if (pushFailed) throw new ExitCode(1);
    } finally {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    }
  },
};
