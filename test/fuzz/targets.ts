// The fuzz targets: every decoder of bytes that come from outside cairn's
// own writes (a user's files, a script's signal, another store's tarball).
// Each gets the raw input and must return, or throw a CairnError (the
// project's error: a clear message and an exit code); anything else is a
// finding. Store object decoders have their own test in packages/store.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isCairnError, Store, type ObjectId } from '@cairn/store';
import { checkpointLinks, getBaseline, readCheckpoint, readExperimentState } from '@cairn/lineage';
import { decodeSignal, parseLock, parsePipeline, parseStructured, renderLock, type LockState } from '@cairn/runner';
import { importExperiments, openTarball, parseManifest } from '@cairn/transfer';

export interface TargetContext {
  /** A folder of the fuzz run's own, removed after it. */
  work: string;
  store?: Store;
}

export interface Target {
  name: string;
  run(input: Buffer, ctx: TargetContext): Promise<void> | void;
  close?(ctx: TargetContext): Promise<void>;
}

/** A decoder's result that breaks what its type promises is as much a bug as a crash: its users would crash instead. */
class Broken extends Error {
  override name = 'BrokenResult';
}
const must = (ok: boolean, what: string) => {
  if (!ok) throw new Broken(what);
};
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ID = /^[0-9a-f]{64}$/;

function checkLockShape(s: LockState): void {
  must(typeof s.experiment === 'string' && ID.test(s.checkpoint), 'experiment and checkpoint');
  must(typeof s.stage === 'string' && typeof s.cmd === 'string', 'stage and cmd are strings');
  for (const [what, entries] of [['deps', s.deps], ['outs', s.outs]] as const) {
    must(isPlain(entries), `${what} is an object`);
    for (const e of Object.values(entries)) {
      must(isPlain(e) && typeof e.id === 'string' && Number.isSafeInteger(e.size) && (e.kind === 'file' || e.kind === 'tree'), `${what} entries are {id, size, kind}`);
      if (what === 'outs') must(typeof (e as { checkpoint?: unknown }).checkpoint === 'boolean', 'outs entries say checkpoint: boolean');
    }
  }
  must(isPlain(s.params) && Object.values(s.params).every(isPlain), 'params is an object of file -> values');
}

async function store(ctx: TargetContext): Promise<Store> {
  if (!ctx.store) {
    const dir = join(ctx.work, 'store');
    await Store.init(dir);
    ctx.store = await Store.open(dir);
  }
  return ctx.store;
}

let tarFiles = 0;

export const TARGETS: Target[] = [
  {
    // `exp import`, both ways it reads: a stream (stdin, gzip) and a plain tar file by descriptor.
    name: 'tar',
    async run(input, ctx) {
      const s = await store(ctx);
      await importExperiments(s, Readable.from([input]));
      const file = join(ctx.work, `in-${tarFiles++ % 4}.tar`);
      await writeFile(file, input);
      const stream = await openTarball(file);
      try {
        await importExperiments(s, stream);
      } finally {
        stream.destroy();
      }
    },
    async close(ctx) {
      await ctx.store?.close();
    },
  },
  {
    name: 'manifest',
    run(input) {
      parseManifest(input);
    },
  },
  {
    // Records arrive from other stores: whatever the store decodes is handed to lineage, which must check it.
    name: 'records',
    async run(input) {
      let body: unknown;
      try {
        body = JSON.parse(input.toString('utf8'));
      } catch {
        return; // not a value at all: the store's decoder's business, not lineage's
      }
      const fake = { getRecord: async () => ({ body, links: [] }) } as unknown as Store;
      const id = 'ab'.repeat(32) as ObjectId;
      const tolerate = async (f: () => Promise<unknown>) => {
        try {
          return await f();
        } catch (err) {
          if (isCairnError(err)) return undefined;
          throw err;
        }
      };
      const r = await tolerate(() => readCheckpoint(fake, id));
      if (r) checkpointLinks(r as Parameters<typeof checkpointLinks>[0]).forEach((l) => must(typeof l === 'string', 'links are IDs'));
      await tolerate(() => readExperimentState(fake, id, 'fuzz'));
      await tolerate(() => getBaseline(fake, id));
    },
  },
  {
    name: 'signal',
    run(input) {
      const r = decodeSignal(input.toString('utf8'));
      must(isPlain(r.payload), 'payload is an object');
      if (r.error === undefined) {
        const p = r.payload as { metrics?: unknown; step?: unknown };
        must(p.metrics === undefined || isPlain(p.metrics), 'metrics is an object');
        must(p.step === undefined || Number.isSafeInteger(p.step), 'step is an integer');
      } else must(!/Maximum call stack|Cannot read prop|is not a function|Invalid array length/.test(r.error), `the reason is an internal error: ${r.error}`);
    },
  },
  {
    name: 'lockfile',
    run(input) {
      const s = parseLock(input.toString('utf8'));
      checkLockShape(s);
      // What was accepted must survive its own write and read.
      const again = parseLock(renderLock(s));
      must(JSON.stringify(again) === JSON.stringify(s), 'renderLock then parseLock gives the state back');
    },
  },
  {
    name: 'pipeline',
    run(input) {
      const text = input.toString('utf8');
      for (const fname of ['dvc.yaml', 'cairn.yaml']) {
        try {
          const p = parsePipeline(text, fname);
          must(isPlain(p.stages) && Object.keys(p.stages).length > 0, 'a pipeline has stages');
        } catch (err) {
          if (!isCairnError(err)) throw err;
        }
      }
    },
  },
  {
    name: 'params',
    run(input) {
      const text = input.toString('utf8');
      for (const format of ['yaml', 'json'] as const) {
        try {
          const v = parseStructured(text, `params.${format}`, format, 'params');
          must(isPlain(v), 'params are a mapping');
        } catch (err) {
          if (!isCairnError(err)) throw err;
          must(!/Maximum call stack|Cannot read prop|is not a function/.test((err as Error).message), `the message is an internal error: ${(err as Error).message}`);
        }
      }
    },
  },
];

export function targetNamed(name: string): Target {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  return t;
}
