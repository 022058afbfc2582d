import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { initCommand } from './init.js';
import { storeCommand } from './store.js';
import { fsckCommand } from './fsck.js';
import { gcCommand } from './gc.js';

export const commands: CommandModule<GlobalArgs, any>[] = [initCommand, storeCommand, fsckCommand, gcCommand];
