// Restores give back exactly what was recorded: names as bytes (a name that
// is not UTF-8 is legal on Linux), permission bits (setuid/setgid/sticky are
// dropped on record, by design), and sparse files stay sparse.
// Black-box: the cairn bin on a real workspace whose stage writes an out folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, rm, writeFile, mkdir, chmod, open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, tempDir } from './lib/cli.js';

/** What a restore must reproduce of one folder entry. */
interface Seen {
  name: string; // hex of the name's bytes
  kind: 'file' | 'dir' | 'link';
  mode: number; // mode & 0o7777
  size: number;
  sha256?: string;
}

/** Every entry below `dir` (names as bytes, paths as Buffers so no name is mangled). */
async function describe(dir: Buffer, prefix = ''): Promise<Seen[]> {
  const out: Seen[] = [];
  for (const d of await readdir(dir, { encoding: 'buffer', withFileTypes: true })) {
    const nameBytes = d.name as unknown as Buffer;
    const p = Buffer.concat([dir, Buffer.from('/'), nameBytes]);
    const st = await lstat(p);
    const name = prefix + nameBytes.toString('hex');
    if (st.isDirectory()) {
      out.push({ name, kind: 'dir', mode: st.mode & 0o7777, size: 0 });
      out.push(...(await describe(p, `${name}/`)));
    } else if (st.isSymbolicLink()) out.push({ name, kind: 'link', mode: 0, size: st.size });
    else out.push({ name, kind: 'file', mode: st.mode & 0o7777, size: st.size, sha256: createHash('sha256').update(await readFile(p)).digest('hex') });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');
const NON_UTF8 = Buffer.from([0x66, 0xff, 0x2e, 0x62, 0x69, 0x6e]); // "f\xff.bin"

/** The stage: a Python script that writes the out folder `keys/` (its part named by argv), after noting what it found there. */
const GEN_PY = String.raw`import hashlib, json, os, stat, sys

def describe(d, prefix=b""):
    out = []
    if not os.path.isdir(d):
        return out
    for n in os.listdir(d):
        p = os.path.join(d, n)
        st = os.lstat(p)
        name = prefix + n
        if stat.S_ISDIR(st.st_mode):
            out.append({"name": name, "kind": "dir", "mode": st.st_mode & 0o7777, "size": 0})
            out += describe(p, name + b"/")
        else:
            with open(p, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
            out.append({"name": name, "kind": "file", "mode": st.st_mode & 0o7777, "size": st.st_size, "blocks": st.st_blocks, "sha256": sha})
    return out

seen = describe(b"keys")
for e in seen:
    e["name"] = "/".join(part.hex() for part in e["name"].split(b"/"))
with open("seen.json", "w") as f:
    json.dump(sorted(seen, key=lambda e: e["name"]), f)

def sparse(path, size, at, data):
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(at)
        f.write(data)

what = sys.argv[1]
os.makedirs(b"keys", exist_ok=True)
if what == "names":
    with open(b"keys/f\xff.bin", "wb") as f:
        f.write(b"not utf-8 named\n")
    os.makedirs(b"keys/d\xfe\xfd", exist_ok=True)
    with open(b"keys/d\xfe\xfd/\xc3\x28", "wb") as f:
        f.write(b"nested\n")
    with open(b"keys/plain.txt", "wb") as f:
        f.write(b"plain\n")
elif what == "modes":
    for name, mode in ((b"id_rsa", 0o600), (b"run.sh", 0o755), (b"suid", 0o4755), (b"shared", 0o640), (b"ro", 0o444)):
        p = b"keys/" + name
        if os.path.exists(p):
            os.chmod(p, 0o600)
        with open(p, "wb") as f:
            f.write(name + b" content\n")
        os.chmod(p, mode)
    os.makedirs(b"keys/private", exist_ok=True)
    with open(b"keys/private/token", "wb") as f:
        f.write(b"t\n")
    os.chmod(b"keys/private/token", 0o600)
    os.chmod(b"keys/private", 0o700)
    os.chmod(b"keys", 0o750)
elif what == "sparse":
    M = 1024 * 1024
    sparse(b"keys/big.bin", 64 * M, 40 * M + 5, os.urandom(4096))     # restored through the arena (>= 16 MiB)
    sparse(b"keys/small.bin", 12 * M, 3 * M, b"x")                     # restored chunk by chunk
    sparse(b"keys/tail.bin", 32 * M, 0, b"head")                       # ends in a hole
    with open(b"keys/dense.bin", "wb") as f:
        f.write(os.urandom(20 * M))
`;

async function workspace(what: string): Promise<string> {
  const ws = await tempDir('cairn-fidelity-');
  await writeFile(
    join(ws, 'cairn.yaml'),
    `stages:\n  gen:\n    cmd: python3 gen.py ${what}\n    deps:\n      - gen.py\n    outs:\n      - keys:\n          checkpoint: true\n`,
  );
  await writeFile(join(ws, 'gen.py'), GEN_PY);
  const init = await cairn(['init'], { cwd: ws });
  assert.equal(init.code, 0, init.stderr);
  return ws;
}

async function run(ws: string, args: string[]): Promise<void> {
  const r = await cairn(args, { cwd: ws });
  assert.equal(r.code, 0, `cairn ${args.join(' ')}: ${r.stderr}`);
}

/**
 * Records `keys/` with `exp run`, then restores it twice — `exp apply` over
 * a deleted folder, and `exp run --rev` (the stage notes what the restore
 * left before rewriting it) — and hands both results to `check` along with
 * the original. After the apply, `exp diff` must see no difference.
 */
async function recordAndRestore(what: string, check: (original: Seen[], restored: Seen[], how: string, ws: string) => Promise<void>): Promise<void> {
  const ws = await workspace(what);
  const keys = Buffer.from(join(ws, 'keys'));
  await run(ws, ['exp', 'run', '--name', 'orig']);
  const original = await describe(keys);
  assert.ok(original.length > 0);

  await rm(join(ws, 'keys'), { recursive: true, force: true });
  await run(ws, ['exp', 'apply', 'orig']);
  await check(original, await describe(keys), 'exp apply', ws);
  // Hashing the restored folder gives the recorded ID again (names, modes and bytes all agree).
  const diff = await cairn(['exp', 'diff'], { cwd: ws });
  assert.equal(diff.code, 0, `exp diff: ${diff.stderr}`);
  assert.match(diff.stdout, /^No differences/m);

  await rm(join(ws, 'keys'), { recursive: true, force: true });
  await run(ws, ['exp', 'run', '--rev', 'orig', '--name', 'again']);
  const seen = JSON.parse(await readFile(join(ws, 'seen.json'), 'utf8')) as Array<Seen & { blocks: number }>;
  await check(
    original,
    seen.map(({ blocks: _blocks, ...e }) => (e.kind === 'dir' ? { ...e } : e)),
    'exp run --rev',
    ws,
  );
}

test('names that are not UTF-8 are recorded and restored byte for byte', async () => {
  await recordAndRestore('names', async (original, restored, how) => {
    const names = original.map((e) => e.name);
    assert.ok(names.includes(hex(NON_UTF8)), 'the non-UTF-8 file was recorded');
    assert.ok(names.includes(`${hex(Buffer.from([0x64, 0xfe, 0xfd]))}/${hex(Buffer.from([0xc3, 0x28]))}`), 'the nested non-UTF-8 names were recorded');
    assert.deepEqual(restored, original, `${how} gives back every name, byte for byte, with its content`);
  });
});

test('permission bits come back; setuid is dropped on record', async () => {
  await recordAndRestore('modes', async (original, restored, how) => {
    const mode = (list: Seen[], name: string) => list.find((e) => e.name === hex(name) || e.name === name.split('/').map(hex).join('/'))?.mode;
    assert.equal(mode(restored, 'id_rsa'), 0o600, `${how}: a 0600 key stays 0600`);
    assert.equal(mode(restored, 'run.sh'), 0o755, `${how}: 0755 stays 0755`);
    assert.equal(mode(restored, 'shared'), 0o640, `${how}: 0640 stays 0640`);
    assert.equal(mode(restored, 'ro'), 0o444, `${how}: 0444 stays 0444`);
    assert.equal(mode(original, 'suid'), 0o4755, 'the stage made a setuid file');
    assert.equal(mode(restored, 'suid'), 0o755, `${how}: setuid is not restored (dropped on record)`);
    assert.equal(mode(restored, 'private/token'), 0o600, `${how}: a 0600 file in a subfolder stays 0600`);
    assert.equal(mode(restored, 'private'), 0o700, `${how}: a 0700 folder stays 0700`);
    const bytes = (list: Seen[]) => list.map(({ mode: _m, ...e }) => e);
    assert.deepEqual(bytes(restored), bytes(original), `${how}: same names and content`);
  });
});

/**
 * Holes are kept per chunk: a chunk holding any non-zero byte is written
 * whole, and chunks are at most 4 MiB. Each sparse file here has one small
 * data region (inside one chunk), so at most that much may be allocated
 * (plus a little for the file system's own blocks); a dense restore
 * allocates the whole size.
 */
const ONE_CHUNK = 4 * 1024 * 1024 + 64 * 1024;

test('sparse files come back sparse, with the same bytes', async () => {
  await recordAndRestore('sparse', async (original, restored, how, ws) => {
    assert.deepEqual(
      restored.map(({ mode: _m, ...e }) => e),
      original.map(({ mode: _m, ...e }) => e),
      `${how}: same names, sizes and SHA-256`,
    );
    if (how !== 'exp apply') {
      const seen = JSON.parse(await readFile(join(ws, 'seen.json'), 'utf8')) as Array<{ name: string; size: number; blocks: number }>;
      for (const name of ['big.bin', 'small.bin', 'tail.bin']) {
        const e = seen.find((s) => s.name === hex(name))!;
        assert.ok(e.blocks * 512 <= ONE_CHUNK, `${how}: ${name} is sparse (${e.blocks * 512} bytes allocated of ${e.size})`);
      }
      return;
    }
    for (const name of ['big.bin', 'small.bin', 'tail.bin']) {
      const st = await lstat(join(ws, 'keys', name));
      assert.ok(st.blocks * 512 <= ONE_CHUNK, `${how}: ${name} is sparse (${st.blocks * 512} bytes allocated of ${st.size})`);
    }
    const dense = await lstat(join(ws, 'keys', 'dense.bin'));
    assert.ok(dense.blocks * 512 >= dense.size, `${how}: a dense file stays dense`);
  });
});

test('store add / store get of a folder keeps names, modes and holes', async () => {
  const ws = await tempDir('cairn-fidelity-');
  assert.equal((await cairn(['init'], { cwd: ws })).code, 0);
  const src = join(ws, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  const odd = Buffer.concat([Buffer.from(src + '/'), NON_UTF8]);
  await writeFile(odd, 'odd name\n');
  await writeFile(join(src, 'key'), 'secret\n', { mode: 0o600 });
  await chmod(join(src, 'key'), 0o600);
  await writeFile(join(src, 'suid'), '#!/bin/sh\n');
  await chmod(join(src, 'suid'), 0o4711);
  await chmod(join(src, 'sub'), 0o700);
  const sparse = join(src, 'sub', 'sparse.bin');
  await writeFile(sparse, '');
  await truncate(sparse, 48 * 1024 * 1024);
  const fh = await open(sparse, 'r+');
  await fh.write(Buffer.from('data in the middle'), 0, 18, 20 * 1024 * 1024 + 3);
  await fh.close();
  await chmod(src, 0o750);

  const add = await cairn(['store', 'add', 'src', '--name', 'folder'], { cwd: ws });
  assert.equal(add.code, 0, add.stderr);
  const get = await cairn(['store', 'get', 'folder', 'out'], { cwd: ws });
  assert.equal(get.code, 0, get.stderr);

  const want = (await describe(Buffer.from(src))).map((e) => (e.name === hex('suid') ? { ...e, mode: 0o711 } : e));
  assert.deepEqual(await describe(Buffer.from(join(ws, 'out'))), want, 'names, modes (setuid dropped) and content');
  assert.equal((await lstat(join(ws, 'out'))).mode & 0o7777, 0o750, 'the folder itself keeps its mode');
  const st = await lstat(join(ws, 'out', 'sub', 'sparse.bin'));
  assert.ok(st.blocks * 512 <= ONE_CHUNK, `the sparse file stays sparse (${st.blocks * 512} bytes allocated of ${st.size})`);
});
