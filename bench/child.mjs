// One store operation in its own process, so its peak RSS is the store's alone.
//
//   node bench/child.mjs init    STORE
//   node bench/child.mjs ingest  STORE FILE [PREVIOUS]   (PREVIOUS: the ID of the file's earlier version, as exp run passes it)
//   node bench/child.mjs restore STORE ID DEST
//   node bench/child.mjs stats   STORE
//
// Prints one JSON line: the phase timings (ms, measured here: Node start-up
// and module loading excluded), coldMs = process.uptime() right after
// close() (what a one-off command would take: Node start-up, imports, open,
// the operation, close), opCpuMs = the operation's CPU time (all threads),
// and maxRssKiB = process.resourceUsage().maxRSS
// taken at the same moment. The harness reads pack sizes from disk itself,
// so ingest does not reopen the store for stats().

import { pathToFileURL } from 'node:url';

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const [op, storeDir, a, b] = process.argv.slice(2);
  const tImport = nowMs();
  // CAIRN_BENCH_STORE: another module exporting Store (an absolute path or a package name), to compare builds.
  const spec = process.env.CAIRN_BENCH_STORE;
  const { Store } = await import(spec ? (spec.startsWith('/') ? pathToFileURL(spec).href : spec) : '@cairn/store');
  const out = { op, importMs: nowMs() - tImport };

  const statsOf = async () => {
    const t = nowMs();
    const s = await Store.open(storeDir);
    try {
      return { stats: await s.stats(), statsMs: nowMs() - t };
    } finally {
      await s.close();
    }
  };

  if (op === 'init') {
    await Store.init(storeDir);
    Object.assign(out, await statsOf());
  } else if (op === 'stats') {
    Object.assign(out, await statsOf());
  } else if (op === 'ingest' || op === 'restore') {
    let t = nowMs();
    const store = await Store.open(storeDir);
    out.openMs = nowMs() - t;
    out.rssAfterOpenKiB = Math.round(process.memoryUsage().rss / 1024);
    t = nowMs();
    const cpu = process.cpuUsage();
    if (op === 'ingest') out.id = await store.putPath(a, b ? { previous: b } : {});
    else await store.getToPath(a, b);
    out.opMs = nowMs() - t;
    // CPU time of every thread (the pool's included): steadier than wall time on a loaded machine.
    const used = process.cpuUsage(cpu);
    out.opCpuMs = (used.user + used.system) / 1000;
    t = nowMs();
    await store.close();
    out.closeMs = nowMs() - t;
    out.coldMs = process.uptime() * 1000;
    out.maxRssKiB = process.resourceUsage().maxRSS;
  } else {
    throw new Error(`unknown op ${op}`);
  }
  out.maxRssEndKiB = process.resourceUsage().maxRSS;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err?.stack ?? err) }) + '\n');
  process.exitCode = 1;
});
