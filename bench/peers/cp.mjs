// The physical bound: `cp` of the checkpoint, then `sync` of the copy and its
// folder (coreutils sync with arguments fsyncs each), spawns included. What
// keeping a plain copy per checkpoint costs; "stored" is N full copies.

import { rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpFsync } from '../measure.mjs';
import { versionOf } from './common.mjs';

export default {
  name: 'cp',
  label: 'cp + fsync',
  baseline: true,
  describe: '`cp` then `sync COPY DIR` (one fsync each); stored = a full copy per checkpoint',
  async probe() {
    const version = await versionOf('cp', ['--version']);
    return version ? { ok: true, version } : { ok: false, missing: ['cp'], install: 'apt-get install -y coreutils' };
  },
  async setup(t) {
    t.stored = 0;
  },
  source(t) {
    return t.folder ? t.ckptDir : join(t.ckptDir, t.files[0]);
  },
  /** One copy made durable; the copy is deleted afterwards (untimed) so disk use stays flat. */
  async copy(t, dest) {
    const r = await cpFsync(this.source(t), dest, { files: t.folder ? t.files : null });
    return r.ms;
  },
  async ingest(t, k) {
    const dest = join(t.dir, `copy-${k}`);
    const ms = await this.copy(t, dest);
    await rm(dest, { recursive: true, force: true });
    t.stored += t.totalBytes;
    return { ms, rssKiB: 0, ref: null };
  },
  async restore(t, _ref, destDir) {
    await mkdir(destDir, { recursive: true });
    const dest = t.folder ? join(destDir, 'ckpt') : join(destDir, t.files[0]);
    const ms = await this.copy(t, dest);
    return { ms, rssKiB: 0, root: t.folder ? dest : destDir };
  },
  repo: () => null,
  storedBytes: (t) => t.stored,
};
