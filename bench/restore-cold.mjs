// Restore from a cold page cache against cp + fsync from a cold page cache.
//
//   node bench/restore-cold.mjs [--scenarios full,frozen,lora] [--size 1GiB] [--reps 3] [--work DIR] [--keep]
//
// Per scenario: writes checkpoints 0..3 (bench/scenarios.mjs), puts each
// into a store with Store.putPath, and keeps a copy of checkpoint 3. Then,
// rep by rep, alternating: evicts every file under the store's packs/ and
// index/ and the copy from the page cache (sync FILE; dd iflag=nocache
// count=0, no root needed), and times
//   cairn: node bench/child.mjs restore STORE ID DEST (open + getToPath +
//          close, as bench/peers/cairn.mjs counts it; wallMs: spawn to exit)
//   cp:    cp SRC DEST; sync DEST DESTDIR           (spawns included)
// The dest is deleted and the filesystem synced (untimed) after each.
// Prints medians, the ratio, and the child's own phase times and CPU time.

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, statSync, copyFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { parseSize } from './gen-safetensors.mjs';
import { planScenario, writeCheckpoint } from './scenarios.mjs';
import { cpFsync, runChild, summarize, settle } from './measure.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'full,frozen,lora' },
    size: { type: 'string', default: '1GiB' },
    reps: { type: 'string', default: '3' },
    work: { type: 'string', default: join(HERE, 'work', 'restore-cold') },
    keep: { type: 'boolean', default: true },
    restore: { type: 'string', default: '3' },
    /** Explicit order instead of alternating reps, e.g. cp,cp,cairn,cp. */
    seq: { type: 'string' },
    /** Another build of the store (its index.js, as CAIRN_BENCH_STORE takes it), timed as 'base' in the same rotation. */
    base: { type: 'string' },
  },
});
const size = parseSize(opt.size);
const reps = Number(opt.reps);
const K = Number(opt.restore);

function walk(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Drops every page of each file from the page cache (dirty pages are written first). */
function evict(files) {
  if (files.length === 0) return;
  execFileSync('sync', files, { stdio: 'ignore' });
  for (const f of files) execFileSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
}

/** Resident pages of the files, from fincore (bytes). */
function resident(files) {
  if (files.length === 0) return 0;
  const out = execFileSync('fincore', ['-b', '-n', '-o', 'RES', ...files], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).reduce((a, l) => a + Number(l.trim()), 0);
}

async function prepare(name) {
  const dir = join(resolve(opt.work), `${name}-${opt.size}`);
  const metaPath = join(dir, 'meta.json');
  if (existsSync(metaPath)) return { dir, ...JSON.parse(readFileSync(metaPath, 'utf8')) };
  await rm(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const plan = planScenario(name, size, K + 1);
  const ckpt = join(dir, 'ckpt');
  mkdirSync(ckpt);
  const store = join(dir, 'store');
  const { Store } = await import('@cairn/store');
  await Store.init(store);
  const ids = [];
  const file = plan.files[0].name;
  for (let k = 0; k <= K; k++) {
    writeCheckpoint(plan, ckpt, k, {});
    const s = await Store.open(store);
    ids.push(await s.putPath(join(ckpt, file)));
    await s.close();
    if (k === K) copyFileSync(join(ckpt, file), join(dir, 'source'));
    console.error(`${name}: checkpoint ${k} stored`);
  }
  await rm(ckpt, { recursive: true, force: true });
  const meta = { ids, file, bytes: statSync(join(dir, 'source')).size };
  writeFileSync(metaPath, JSON.stringify(meta));
  return { dir, ...meta };
}

async function main() {
  for (const name of opt.scenarios.split(',')) {
    const t = await prepare(name);
    const store = join(t.dir, 'store');
    const src = join(t.dir, 'source');
    const out = join(t.dir, 'out');
    mkdirSync(out, { recursive: true });
    // Listed anew each rep: LevelDB may rewrite its files on open.
    const storeFilesNow = () => [...walk(join(store, 'packs')), ...walk(join(store, 'index'))];
    const cairn = [];
    const cp = [];
    const who3 = opt.base ? ['cairn', 'base', 'cp'] : ['cairn', 'cp'];
    // Each rep starts with the next contender, so none is always first or always after the same one.
    const order = opt.seq ? opt.seq.split(',') : Array.from({ length: reps }, (_, r) => who3.map((_, i) => who3[(i + r) % who3.length])).flat();
    const base = [];
    {
      for (const who of order) {
        const dest = join(out, t.file);
        await rm(dest, { force: true });
        await settle(t.dir);
        const storeFiles = storeFilesNow();
        evict([...storeFiles, src]);
        const left = resident([...storeFiles, src]);
        if (who === 'cp') {
          const x = await cpFsync(src, dest);
          cp.push({ ms: x.ms, cpMs: x.cpMs, syncMs: x.syncMs, left });
        } else if (who === 'base') {
          process.env.CAIRN_BENCH_STORE = resolve(opt.base);
          try {
            const x = await runChild('restore', [store, t.ids[K], dest]);
            base.push({ left, ...x, ms: x.openMs + x.opMs + x.closeMs });
          } finally {
            delete process.env.CAIRN_BENCH_STORE;
          }
        } else {
          const x = await runChild('restore', [store, t.ids[K], dest]);
          // As bench/peers/cairn.mjs times it: open + getToPath + close (Node start-up and imports excluded; wallMs has them).
          cairn.push({ left, ...x, ms: x.openMs + x.opMs + x.closeMs });
        }
      }
    }
    const c = summarize(cairn.map((x) => x.ms));
    const b = summarize(cp.map((x) => x.ms));
    const med = (k) => summarize(cairn.map((x) => x[k])).median;
    console.log(
      JSON.stringify({
        scenario: name,
        size: opt.size,
        bytes: t.bytes,
        packs: walk(join(store, 'packs')).length,
        cairnMs: c.median,
        cpMs: b.median,
        ratio: +(c.median / b.median).toFixed(3),
        cairnAll: c.values.map(Math.round),
        cpAll: b.values.map(Math.round),
        child: { wallMs: med('wallMs'), importMs: med('importMs'), openMs: med('openMs'), opMs: med('opMs'), opCpuMs: med('opCpuMs'), closeMs: med('closeMs'), coldMs: med('coldMs'), maxRssKiB: med('maxRssKiB') },
        ...(base.length ? { baseMs: summarize(base.map((x) => x.ms)).median, baseRatio: +(summarize(base.map((x) => x.ms)).median / b.median).toFixed(3), baseAll: base.map((x) => Math.round(x.ms)), baseCpu: base.map((x) => Math.round(x.opCpuMs)) } : {}),
        cpParts: cp.map((x) => `${Math.round(x.cpMs)}+${Math.round(x.syncMs)}`),
        cairnCpu: cairn.map((x) => Math.round(x.opCpuMs)),
        residentBefore: Math.max(...cairn.map((x) => x.left), ...cp.map((x) => x.left)),
      }),
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
