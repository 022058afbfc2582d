import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';
import { expRunCommand } from './run.js';
import { expShowCommand } from './show.js';

export const expCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'exp <command>',
  describe: 'Checkpoint experiments: run, show',
  builder: (y) => y.command(expRunCommand).command(expShowCommand).demandCommand(1),
  handler: () => {},
};
