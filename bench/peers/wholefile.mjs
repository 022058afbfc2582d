// Whole-file content addressing, what DVC's cache and git-lfs's object store
// do: hash each file with `sha256sum`, copy it to objects/<2 hex>/<hash>
// unless that exists. An unchanged file costs a hash; any change costs a full
// copy. Restore: `cp` the object back. The per-checkpoint manifest (hash per
// file name, what a .dvc file holds) stays in memory and is not counted.

import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { timed, must, versionOf } from './common.mjs';

const ADD = `set -eu
obj="$1"; shift
for f in "$@"; do
  h=$(sha256sum -- "$f"); h=\${h%% *}
  d="$obj/$(printf %.2s "$h")"
  mkdir -p "$d"
  if [ ! -e "$d/$h" ]; then cp -- "$f" "$d/$h.tmp"; mv -- "$d/$h.tmp" "$d/$h"; fi
  printf '%s %s\\n' "$h" "$f"
done`;

const GET = `set -eu
obj="$1"; dest="$2"; shift 2
while [ $# -gt 0 ]; do
  cp -- "$obj/$(printf %.2s "$1")/$1" "$dest/$2"; shift 2
done`;

export default {
  name: 'wholefile',
  label: 'whole-file (sha256sum + cp)',
  describe: '`sha256sum` each file, `cp` it to objects/<hash> unless present (DVC cache / git-lfs object store); restore = `cp`',
  async probe() {
    const version = await versionOf('sha256sum', ['--version']);
    return version ? { ok: true, version } : { ok: false, missing: ['sha256sum'], install: 'apt-get install -y coreutils' };
  },
  async setup(t) {
    t.objects = join(t.dir, 'objects');
    await mkdir(t.objects, { recursive: true });
  },
  async ingest(t) {
    const r = must(await timed('sh', ['-c', ADD, 'add', t.objects, ...t.files], { cwd: t.ckptDir }), 'sha256sum + cp');
    const manifest = r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const i = l.indexOf(' ');
        return [l.slice(0, i), l.slice(i + 1)];
      });
    return { ms: r.ms, rssKiB: r.rssKiB, ref: manifest };
  },
  async restore(t, manifest, destDir) {
    await mkdir(destDir, { recursive: true });
    const r = must(await timed('sh', ['-c', GET, 'get', t.objects, destDir, ...manifest.flat()]), 'cp objects');
    return { ms: r.ms, rssKiB: r.rssKiB, root: destDir };
  },
  repo: (t) => t.objects,
};
