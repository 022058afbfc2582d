import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { addNamed, CairnError, resolveObject } from '@cairn/store';
import type { Argv, CommandModule } from 'yargs';
import { withStore, type GlobalArgs } from '../context.js';
import { formatBytes, info, printJson, progressBar } from '../output.js';

interface AddArgs extends GlobalArgs {
  paths: string[];
  name?: string;
}

const add: CommandModule<GlobalArgs, AddArgs> = {
  command: 'add <paths..>',
  describe: 'Store files or folders; print each full ID',
  builder: (y) =>
    y
      .positional('paths', { type: 'string', array: true, demandOption: true })
      .option('name', { type: 'string', describe: 'name the stored object (one path only)' }) as Argv<AddArgs>,
  handler: async (args) => {
    if (args.name !== undefined && args.paths.length !== 1) throw new CairnError('BAD_INPUT', '--name takes exactly one path');
    const results: Array<{ path: string; id: string; size: number; type: string }> = [];
    let total = 0;
    for (const p of args.paths) total += (await stat(p).catch(() => undefined))?.size ?? 0;
    // Yields to a waiting checkpoint: each ref is set after its path is stored, and the store leases what it wrote across a step aside.
    await withStore(args, async (store) => {
      for (const p of args.paths) {
        const bar = progressBar(args, basename(p), total);
        const { id, size, type } = await addNamed(store, p, { name: args.name, onProgress: (n) => bar.update(n) });
        bar.stop();
        results.push({ path: p, id, size, type });
      }
    }, { yieldToPriority: true });
    if (args.json) printJson(results);
    else for (const r of results) process.stdout.write(`${r.id}  ${r.path}\n`);
  },
};

interface GetArgs extends GlobalArgs {
  id: string;
  dest: string;
}

const get: CommandModule<GlobalArgs, GetArgs> = {
  command: 'get <id> <dest>',
  describe: 'Restore a stored file or folder to DEST',
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }).positional('dest', { type: 'string', demandOption: true }) as Argv<GetArgs>,
  handler: async (args) => {
    // Read from a detached copy (see Store.detach): a slow disk or a large folder never keeps an exp run waiting for the lock.
    const { id, reader } = await withStore(args, async (store) => {
      const id = await resolveObject(store, args.id);
      return { id, reader: await store.detach(await store.reachable([id])) };
    });
    try {
      await reader.getToPath(id, resolve(args.dest));
    } finally {
      await reader.close();
    }
    info(args, `Restored ${id.slice(0, 7)} to ${args.dest}`);
  },
};

interface IdArgs extends GlobalArgs {
  id: string;
}

const cat: CommandModule<GlobalArgs, IdArgs> = {
  command: 'cat <id>',
  describe: "Print an object: a file's bytes, a folder's listing, a record as JSON",
  builder: (y) => y.positional('id', { type: 'string', demandOption: true }) as Argv<IdArgs>,
  handler: async (args) => {
    // File content goes out from a detached copy (see Store.detach), after the
    // lock is released: a pager or a stopped reader never blocks an exp run.
    const content = await withStore(args, async (store) => {
      const id = await resolveObject(store, args.id);
      const st = await store.stat(id);
      if (st.type === 'file' || st.type === 'chunk') return { id, reader: await store.detach(await store.reachable([id])) };
      if (st.type === 'tree') {
        const entries = await store.readTree(id);
        if (args.json) printJson(entries);
        else for (const e of entries) process.stdout.write(`${e.kind.padEnd(4)} ${e.kind === 'link' ? '-'.repeat(7) : e.id.slice(0, 7)} ${String(e.size).padStart(12)} ${e.name}${e.kind === 'link' ? ` -> ${e.id}` : ''}\n`);
      } else printJson(await store.getRecord(id));
      return undefined;
    });
    if (!content) return;
    try {
      await pipeline(await content.reader.getStream(content.id), process.stdout, { end: false });
    } finally {
      await content.reader.close();
    }
  },
};

const ls: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ls',
  describe: 'List named objects (refs) with their type and size',
  handler: async (args) => {
    const rows = await withStore(args, async (store) => {
      const out: Array<{ name: string; id: string; type: string; size: number }> = [];
      for (const r of await store.refs.list()) {
        const st = await store.stat(r.id).catch(() => ({ type: 'missing', size: 0 }));
        out.push({ name: r.name, id: r.id, type: st.type, size: st.size });
      }
      return out;
    });
    if (args.json) return printJson(rows);
    const { default: Table } = await import('cli-table3'); // only for a table: add, get and cat never print one
    const table = new Table({ head: ['name', 'id', 'type', 'size'], style: { head: [], border: [] } });
    for (const r of rows) table.push([r.name, r.id.slice(0, 7), r.type, formatBytes(r.size)]);
    process.stdout.write(rows.length ? `${table.toString()}\n` : 'No named objects.\n');
  },
};

const stats: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'stats',
  describe: 'Logical and stored bytes, dedup ratio, packs and chunks',
  handler: async (args) => {
    const s = await withStore(args, (store) => store.stats());
    if (args.json) return printJson(s);
    const { default: Table } = await import('cli-table3');
    const table = new Table({ style: { head: [], border: [] } });
    table.push(
      { 'logical bytes': `${formatBytes(s.logicalBytes)} (${s.logicalBytes})` },
      { 'stored bytes': `${formatBytes(s.storedBytes)} (${s.storedBytes})` },
      { 'pack bytes on disk': `${formatBytes(s.packBytes)} (${s.packBytes})` },
      { 'dedup ratio': `${s.dedupRatio.toFixed(2)}x` },
      { packs: String(s.packs) },
      { chunks: String(s.chunks) },
      { files: String(s.files) },
      { folders: String(s.trees) },
      { records: String(s.records) },
    );
    process.stdout.write(`${table.toString()}\n`);
  },
};

export const storeCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'store <command>',
  describe: 'Storage-only use: add, get, cat, ls, stats',
  builder: (y) => y.command(add).command(get).command(cat).command(ls).command(stats).demandCommand(1),
  handler: () => {},
};
