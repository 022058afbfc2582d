// cairn: the store (@cairn/store, compiled dist) in a child process per
// operation (bench/child.mjs). Timed: Store.open + putPath/getToPath +
// close, measured in the child — what one checkpoint costs inside a running
// `cairn exp run`, which opens the store per checkpoint. The child's whole
// life up to close (Node start-up and imports included: what a one-off
// `cairn store add` pays) is kept as coldMs.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runChild, listFiles } from '../measure.mjs';

/** The Store class, as child.mjs loads it (CAIRN_BENCH_STORE: another build), for the untimed init and stats. */
async function storeClass() {
  const spec = process.env.CAIRN_BENCH_STORE;
  return (await import(spec ? (spec.startsWith('/') ? pathToFileURL(spec).href : spec) : '@cairn/store')).Store;
}

export default {
  name: 'cairn',
  label: 'cairn',
  describe: 'Store.open + putPath + close in a child process (what `exp run` does per checkpoint); restore = getToPath',
  async probe() {
    return { ok: true, version: 'this checkout' };
  },
  async setup(t) {
    t.store = join(t.dir, 'store');
    await (await storeClass()).init(t.store);
  },
  async stats(t) {
    const Store = await storeClass();
    const s = await Store.open(t.store);
    try {
      return await s.stats();
    } finally {
      await s.close();
    }
  },
  async ingest(t) {
    const r = await runChild('ingest', [t.store, t.folder ? t.ckptDir : join(t.ckptDir, t.files[0])]);
    return {
      ms: r.openMs + r.opMs + r.closeMs,
      rssKiB: r.maxRssKiB,
      ref: r.id,
      extra: { openMs: r.openMs, putMs: r.opMs, closeMs: r.closeMs, coldMs: r.coldMs, wallMs: r.wallMs, packBytes: await packBytes(t.store) },
    };
  },
  async restore(t, id, destDir) {
    const r = await runChild('restore', [t.store, id, t.folder ? destDir : join(destDir, t.files[0])]);
    return { ms: r.openMs + r.opMs + r.closeMs, rssKiB: r.maxRssKiB, root: destDir, extra: { coldMs: r.coldMs, wallMs: r.wallMs } };
  },
  repo: (t) => t.store,
};

/** Bytes of sealed pack files (what stats().packBytes counts), read from disk. */
async function packBytes(store) {
  const files = await listFiles(join(store, 'packs'));
  return files.filter((f) => f.path.endsWith('.pack') && !f.path.includes('/tmp/')).reduce((a, f) => a + f.size, 0);
}
