import type { Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from '../context.js';
import { info, printJson } from '../output.js';
import { addRemote, listRemotes, removeRemote } from '../remotes.js';

interface AddArgs extends GlobalArgs {
  name: string;
  url: string;
  endpoint?: string;
  default?: boolean;
}

const add: CommandModule<GlobalArgs, AddArgs> = {
  command: 'add <name> <url>',
  describe: 'Name a remote (s3://BUCKET/PREFIX or file:///PATH); the first one added is the default',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true })
      .positional('url', { type: 'string', demandOption: true })
      .option('endpoint', { type: 'string', describe: 'an S3-compatible endpoint (http://HOST:PORT), for MinIO and the like' })
      .option('default', { type: 'boolean', describe: 'make it the default remote' }) as unknown as Argv<AddArgs>,
  handler: async (args) => {
    const r = await addRemote(args, { name: String(args.name), url: String(args.url), endpoint: args.endpoint, makeDefault: args.default });
    if (args.json) return printJson(r);
    info(args, `Added remote '${r.name}' (${r.url})${r.default ? ', the default' : ''}.`);
  },
};

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'The remotes, their URLs and which is the default',
  handler: async (args) => {
    const all = await listRemotes(args);
    if (args.json) return printJson(all);
    if (all.length === 0) return void process.stdout.write('No remotes: add one with cairn remote add NAME URL.\n');
    for (const r of all) process.stdout.write(`${r.default ? '*' : ' '} ${r.name}\t${r.url}${r.endpoint ? `\t(endpoint ${r.endpoint})` : ''}\n`);
  },
};

interface RemoveArgs extends GlobalArgs {
  name: string;
}

const remove: CommandModule<GlobalArgs, RemoveArgs> = {
  command: 'remove <name>',
  aliases: ['rm'],
  describe: 'Forget a remote (nothing on it is touched)',
  builder: (y) => y.positional('name', { type: 'string', demandOption: true }) as Argv<RemoveArgs>,
  handler: async (args) => {
    await removeRemote(args, String(args.name));
    if (args.json) return printJson({ removed: args.name });
    info(args, `Removed remote '${args.name}'.`);
  },
};

export const remoteCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'remote <command>',
  describe: 'Name the places experiments are pushed to and pulled from: add, list, remove',
  builder: (y) => y.command(add).command(list).command(remove).demandCommand(1, 'name a remote command: add, list or remove'),
  handler: () => {},
};
