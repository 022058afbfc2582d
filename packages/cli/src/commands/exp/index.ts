import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.js';
import { expRunCommand } from './run.js';
import { expShowCommand } from './show.js';
import { expApplyCommand } from './apply.js';
import { expDiffCommand } from './diff.js';
import { expListCommand } from './list.js';
import { expRenameCommand } from './rename.js';
import { expRemoveCommand } from './remove.js';
import { expPlotsCommand } from './plots.js';
import { expExportCommand } from './export.js';
import { expImportCommand } from './import.js';

export const expCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'exp <command>',
  describe: 'Checkpoint experiments: run, show, apply, diff, list, rename, remove, plots, export, import',
  builder: (y) =>
    y
      .command(expRunCommand)
      .command(expShowCommand)
      .command(expApplyCommand)
      .command(expDiffCommand)
      .command(expListCommand)
      .command(expRenameCommand)
      .command(expRemoveCommand)
      .command(expPlotsCommand)
      .command(expExportCommand)
      .command(expImportCommand)
      .demandCommand(1),
  handler: () => {},
};
