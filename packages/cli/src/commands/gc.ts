import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../context.js';
import { formatBytes, printJson } from '../output.js';
import { remoteOption, type RemoteArgs } from './exp/remote-args.js';

interface Args extends RemoteArgs {
  'dry-run'?: boolean;
  grace?: string;
}

/** `gc -r`: collects the remote; nothing here changes. */
async function gcRemote(args: Args): Promise<void> {
  // Only a remote gc pays for loading the remote code.
  const { resolveRemote } = await import('../remotes.js');
  const { openRemote, collectRemote, parseDuration } = await import('@cairn/remote');
  const { walkRemote } = await import('@cairn/transfer');
  const graceMs = parseDuration(args.grace ?? '24h');
  const entry = await resolveRemote(args, args.remote);
  const backend = await openRemote(entry.url, { endpoint: entry.endpoint, env: process.env });
  let r;
  try {
    r = await collectRemote(backend, { graceMs, dryRun: args['dry-run'], walk: (roots, seen) => walkRemote(backend, roots, seen) });
  } finally {
    await backend.close();
  }
  if (args.json) return printJson(r);
  const verb = r.dryRun ? 'Would free' : 'Freed';
  const condemned = r.dryRun ? 'would condemn' : 'condemned';
  process.stdout.write(
    `${verb} ${formatBytes(r.bytesFreed)} (${r.bytesFreed} bytes) on remote '${entry.name}': ${r.objectsFreed} objects in ${r.packsDeleted} packs; ` +
      `${condemned} ${r.packsCondemned} packs (freed by a gc after ${args.grace ?? '24h'}), ${r.packsRestored} reachable again, ${r.tombstonesRemoved} deleted refs cleared; ${r.packsLive} packs kept.\n`,
  );
}

export const gcCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gc',
  describe: 'Delete what no experiment or name reaches; print bytes freed',
  builder: (y) =>
    remoteOption(y, 'collect this remote instead (a name from cairn remote list, or a URL)')
      .option('dry-run', { type: 'boolean', describe: 'only report what would be freed' })
      .option('grace', { type: 'string', requiresArg: true, describe: 'with -r: leave data younger than this, and delete condemned data only after this long (e.g. 24h, 30m, 0s; default 24h)' }) as unknown as Argv<Args>,
  handler: async (args) => {
    if (args.remote !== undefined) return gcRemote(args);
    if (args.grace !== undefined) {
      const { CairnError } = await import('@cairn/store');
      throw new CairnError('BAD_INPUT', '--grace is taken only with -r (a remote gc)');
    }
    // Lets a waiting checkpoint in between pack rewrites (it marks again after each step aside).
    const r = await withStore(args, (store) => store.gc({ dryRun: args['dry-run'] }), { yieldToPriority: true });
    if (args.json) return printJson(r);
    const verb = r.dryRun ? 'Would free' : 'Freed';
    process.stdout.write(`${verb} ${formatBytes(r.bytesFreed)} (${r.bytesFreed} bytes): ${r.deadObjects} unreachable objects, ${r.packsDeleted} packs deleted, ${r.packsRewritten} rewritten; ${r.liveObjects} objects kept.\n`);
  },
};
