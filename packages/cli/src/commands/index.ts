import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { initCommand } from './init.js';
import { expCommand } from './exp/index.js';
import { checkpointCommand } from './checkpoint.js';
import { storeCommand } from './store.js';
import { fsckCommand } from './fsck.js';
import { gcCommand } from './gc.js';

export const commands: CommandModule<GlobalArgs, any>[] = [initCommand, expCommand, checkpointCommand, storeCommand, fsckCommand, gcCommand];
