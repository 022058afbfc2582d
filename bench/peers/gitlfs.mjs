// git + git-lfs, the way DVC-era projects kept models: a repository whose
// `.gitattributes` (git lfs track) sends *.safetensors and *.pt to LFS,
// `git add` + `git commit` per checkpoint (the clean filter hashes the file
// and copies it whole into .git/lfs/objects). The repository's work tree
// holds hard links to the checkpoint files, so git reads exactly the bytes
// the other tools read. Restore: `git --work-tree=DEST checkout <commit> --
// FILES` (the smudge filter copies the LFS object out). Stored = all of .git.

import { join } from 'node:path';
import { link, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { timed, must, versionOf } from './common.mjs';

const env = () => ({
  ...process.env,
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
});
const git = async (t, args, what) => must(await timed('git', args, { cwd: t.repoDir, env: env() }), what ?? `git ${args[0]}`);

export default {
  name: 'git-lfs',
  label: 'git + git-lfs',
  describe: '`git add` + `git commit` per checkpoint with LFS tracking (`git lfs track`); restore = `git checkout <commit> -- FILES`',
  async probe() {
    const g = await versionOf('git', ['--version']);
    const l = await versionOf('git', ['lfs', 'version']);
    if (g && l) return { ok: true, version: `${g}; ${l}` };
    return { ok: false, missing: [!g && 'git', !l && 'git-lfs'].filter(Boolean), install: 'apt-get install -y git git-lfs' };
  },
  async setup(t) {
    t.repoDir = join(t.dir, 'repo');
    await mkdir(t.repoDir, { recursive: true });
    await git(t, ['init', '-q', '-b', 'main']);
    await git(t, ['lfs', 'install', '--local']);
    await git(t, ['lfs', 'track', '*.safetensors', '*.pt']);
    await git(t, ['add', '.gitattributes']);
    await git(t, ['commit', '-q', '-m', 'track models with git-lfs']);
    t.commits = [];
  },
  async ingest(t, k) {
    for (const f of t.files) {
      const p = join(t.repoDir, f);
      if (!existsSync(p)) await link(join(t.ckptDir, f), p); // in-place rewrites keep the inode, so the link follows every checkpoint
    }
    const r = must(
      await timed('sh', ['-c', `git add -- ${t.files.map((f) => `'${f}'`).join(' ')} && git commit -q -m 'checkpoint ${k}'`], { cwd: t.repoDir, env: env() }),
      'git add + commit',
    );
    const head = (await git(t, ['rev-parse', 'HEAD'])).stdout.trim();
    return { ms: r.ms, rssKiB: r.rssKiB, ref: head };
  },
  async restore(t, commit, destDir) {
    await mkdir(destDir, { recursive: true });
    const r = must(await timed('git', [`--work-tree=${destDir}`, 'checkout', commit, '--', ...t.files], { cwd: t.repoDir, env: env() }), 'git checkout');
    return { ms: r.ms, rssKiB: r.rssKiB, root: destDir };
  },
  repo: (t) => join(t.repoDir, '.git'),
  async teardown(t) {
    for (const f of t.files) await rm(join(t.repoDir, f), { force: true });
  },
};
