// restic: chunked (content-defined, ~1 MiB average), deduplicating,
// encrypted backup. One repository per scenario, one `restic backup` per
// checkpoint, `restic restore <snapshot> --target DIR` for the restore.
// Default settings: restic >= 0.14 creates repository format 2, whose
// default compression is "auto" (zstd, fastest level); the local cache is
// on (kept in the scratch folder, not counted as stored). Every command
// pays restic's key derivation (scrypt) on start, as every real use does.

import { join } from 'node:path';
import { cp, mkdir, rm } from 'node:fs/promises';
import { timed, must, versionOf } from './common.mjs';

const env = () => ({ ...process.env, RESTIC_PASSWORD: 'cairn-bench', RESTIC_PROGRESS_FPS: '0.0001' });
let template = null; // one `restic init` per run (scrypt calibration takes seconds); scenarios copy it

export default {
  name: 'restic',
  label: 'restic',
  describe: '`restic backup` per checkpoint into one repository (format 2, compression auto, cache on); `restic restore`',
  async probe() {
    const version = await versionOf('restic', ['version']);
    return version ? { ok: true, version } : { ok: false, missing: ['restic'], install: 'apt-get install -y restic' };
  },
  async setup(t) {
    t.repoDir = join(t.dir, 'repo');
    t.cache = join(t.dir, 'cache');
    if (!template || !template.ok) {
      const dir = join(t.runDir, `restic-template-${process.pid}`);
      await rm(dir, { recursive: true, force: true });
      must(await timed('restic', ['init', '--repo', dir], { env: env() }), 'restic init');
      const cfg = await timed('restic', ['-r', dir, '--no-cache', 'cat', 'config'], { env: env() });
      template = { ok: true, dir, config: JSON.parse(must(cfg, 'restic cat config').stdout) };
    }
    t.repoVersion = template.config.version;
    await mkdir(t.dir, { recursive: true });
    await cp(template.dir, t.repoDir, { recursive: true });
  },
  async ingest(t, k) {
    const r = must(
      await timed('restic', ['-r', t.repoDir, '--cache-dir', t.cache, 'backup', '--json', '--host', 'bench', '--tag', `ckpt-${k}`, t.folder ? '.' : t.files[0]], {
        cwd: t.ckptDir,
        env: env(),
      }),
      'restic backup',
    );
    const summary = r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return null;
        }
      })
      .find((m) => m && m.message_type === 'summary');
    if (!summary) throw new Error(`restic backup printed no summary: ${r.stdout.slice(-300)}`);
    return { ms: r.ms, rssKiB: r.rssKiB, ref: summary.snapshot_id, extra: { dataAdded: summary.data_added } };
  },
  async restore(t, snapshot, destDir) {
    const r = must(await timed('restic', ['-r', t.repoDir, '--cache-dir', t.cache, 'restore', snapshot, '--target', destDir], { env: env() }), 'restic restore');
    return { ms: r.ms, rssKiB: r.rssKiB, root: destDir };
  },
  repo: (t) => t.repoDir,
  async cleanup() {
    if (template) await rm(template.dir, { recursive: true, force: true });
    template = null;
  },
};
