// The tools the harness compares, in report order, and their availability.
// A missing peer is skipped with a loud line saying how to install it (or
// installed with --install-peers, as root, from Debian's archive).

import cp from './cp.mjs';
import cairn from './cairn.mjs';
import restic from './restic.mjs';
import gitlfs from './gitlfs.mjs';
import wholefile from './wholefile.mjs';
import { run } from '../measure.mjs';
import { TIME_BIN } from './common.mjs';

export const TOOLS = [cp, cairn, restic, gitlfs, wholefile];
export const PEER_NAMES = ['restic', 'git-lfs', 'wholefile'];
export const byName = (n) => TOOLS.find((t) => t.name === n);

/** Debian packages that provide what is missing. */
const PACKAGES = { restic: 'restic', git: 'git', 'git-lfs': 'git-lfs', sha256sum: 'coreutils', cp: 'coreutils', time: 'time' };

/**
 * Probes the wanted tools. Returns { tools: [...available], skipped: [{name, why}], versions }.
 * With install=true, missing Debian packages are installed first (apt-get, needs root).
 */
export async function resolveTools(names, { install = false, log }) {
  let probes = await Promise.all(names.map(async (n) => ({ n, tool: byName(n), p: await byName(n).probe() })));
  const missing = [...new Set(probes.flatMap((x) => (x.p.ok ? [] : x.p.missing)).concat(TIME_BIN ? [] : ['time']))];
  if (missing.length && install) {
    const pkgs = [...new Set(missing.map((m) => PACKAGES[m] ?? m))];
    log(`bench: installing ${pkgs.join(' ')} from Debian (apt-get) ...`);
    const u = await run('apt-get', ['update', '-qq']);
    const r = u.code === 0 ? await run('apt-get', ['install', '-y', '-qq', ...pkgs]) : u;
    if (r.code !== 0) log(`bench: apt-get failed (exit ${r.code}): ${r.stderr.trim().split('\n').pop()}`);
    probes = await Promise.all(names.map(async (n) => ({ n, tool: byName(n), p: await byName(n).probe() })));
  }
  const tools = [];
  const skipped = [];
  const versions = {};
  for (const { n, tool, p } of probes) {
    if (p.ok) {
      tools.push(tool);
      versions[n] = p.version;
    } else {
      const why = `${p.missing.join(', ')} not installed`;
      skipped.push({ name: n, why, install: p.install });
      log(`\n!!!!!!!! bench: SKIPPING PEER ${n}: ${why}. Install it with:  sudo ${p.install}   (or run with --install-peers as root) !!!!!!!!\n`);
    }
  }
  if (!TIME_BIN) log('bench: /usr/bin/time not found (apt-get install -y time): peers\' peak RSS falls back to sampling the top process only');
  return { tools, skipped, versions };
}
