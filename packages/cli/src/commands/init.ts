import { join } from 'node:path';
import { Store } from '@cairn/store';
import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { info } from '../output.js';
import { writeExample } from '../example.js';

interface Args extends GlobalArgs {
  example?: boolean;
}

export const initCommand: CommandModule<GlobalArgs, Args> = {
  command: 'init',
  describe: 'Create a store in .cairn/ here (or at --store)',
  builder: (y) => y.option('example', { type: 'boolean', describe: 'also write a sample cairn.yaml, params.yaml and train.py' }).strict(),
  handler: async (args) => {
    // An empty CAIRN_STORE is unset, as findStoreDir reads it.
    const dir = args.store ?? (process.env.CAIRN_STORE || join(process.cwd(), '.cairn'));
    const existed = await Store.isStore(dir);
    await Store.init(dir);
    info(args, existed ? `Store already initialised at ${dir}` : `Initialised empty cairn store in ${dir}`);
    if (args.example) {
      const written = await writeExample(process.cwd());
      info(args, `Wrote ${written.join(', ')}. Try: cairn exp run`);
    }
  },
};
