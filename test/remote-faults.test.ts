// What a remote must show when things go wrong, against a folder and a real S3 server alike:
// damaged or hostile remote data is refused whole, kills leave both sides consistent,
// a lost server or bad credentials are one clear line, and no secret is ever written.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, renameSync, watch, writeFileSync } from 'node:fs';
import { readFile, readdir, rm, symlink, mkdir } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Store } from '@cairn/store';
import { CHECKPOINT_KIND, RECORD_VERSION, createExperiment, expRef, putExperimentState, readExperimentState } from '@cairn/lineage';
import { s3Endpoint } from '@cairn/remote/testing';
import { collect, startCairn, tempDir, type RunResult } from './lib/cli.js';
import { errorLines, json, KINDS, ok, on, remoteWorkspace, type GenParams, type TestRemote } from './lib/remotes.js';

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
const SMALL: GenParams = { epochs: 1, tensors: 1, files: 2, seed: 1 };
const BIG: GenParams = { epochs: 2, tensors: 16, files: 0, seed: 2 };

/** Exit `code` with exactly one error line. */
function refused(r: RunResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${code}, got ${r.code}\n${r.stdout}\n${r.stderr}`);
  const lines = errorLines(r);
  assert.equal(lines.length, 1, `${what}: one error line\n${r.stderr}`);
  assert.ok(!/\n\s+at /.test(r.stderr), `${what}: no stack trace\n${r.stderr}`);
  return lines[0];
}

/** A victim with an experiment of its own, and what it shows before a refused pull. */
async function victim(remote: TestRemote): Promise<{ ws: string; before: unknown }> {
  // Another seed: it must not hold the pushed objects already, or a pull would never read the damaged ones.
  const ws = await remoteWorkspace(remote, { ...SMALL, seed: 99 });
  ok(await on(remote, ws, ['exp', 'run', '-n', 'mine']), 'exp run mine');
  return { ws, before: await json(remote, ws, ['exp', 'list']) };
}

/** Writes experiment `name` whose checkpoint has out `out`, by hand, as a hostile store would (the library refuses such paths). */
async function hostileExperiment(ws: string, name: string, out: string): Promise<void> {
  const store = await Store.open(join(ws, '.cairn'));
  try {
    const data = Buffer.from('#!/bin/sh\necho pwned\n');
    const id = await store.putBuffer(data);
    const exp = await createExperiment(store, { name, baseline: { deps: {}, params: {} } });
    const input = { stage: 'train', cmd: 'true', outs: { [out]: { id, size: data.length, kind: 'file' as const, checkpoint: true } }, deps: {}, params: {}, metrics: {} };
    const body = { kind: CHECKPOINT_KIND, version: RECORD_VERSION, experiment: name, step: 0, created: '2026-01-01T00:00:00Z', parent: null, ...input };
    const ckpt = await store.putRecord(body, [id]);
    const old = await readExperimentState(store, exp.stateId, name);
    await store.refs.set(expRef(name), await putExperimentState(store, { ...old, tip: ckpt, first: ckpt, checkpoints: 1 }), exp.stateId);
  } finally {
    await store.close();
  }
}

/** Every file under `dir`, for grepping. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Runs cairn and SIGKILLs it once `when` says so (or lets it end). */
async function killWhen(remote: TestRemote, ws: string, args: string[], when: () => Promise<boolean>): Promise<RunResult> {
  const child = startCairn(args, { cwd: ws, env: remote.env });
  const done = collect(child);
  let ended = false;
  void done.then(() => (ended = true));
  while (!ended) {
    if (await when().catch(() => false)) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return done;
}

/** A TCP proxy to the S3 server that can be cut off (every connection dropped) and brought back on the same port. */
class Proxy {
  private server?: Server;
  private sockets = new Set<Socket>();
  port = 0;
  /** Bytes sent towards the server, and back, so far. */
  sent = 0;
  received = 0;
  constructor(private readonly target: URL) {}
  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.on('data', (d) => (this.sent += d.length));
      upstream.on('data', (d) => (this.received += d.length));
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

for (const { kind, skip, make } of KINDS) {
  describe(`${kind} remote`, { skip }, () => {
    for (const where of ['packs/', 'index/'])
      test(`a flipped byte in a blob under ${where} on the remote is refused by pull: exit 2, nothing visible locally`, async () => {
        const remote = await make();
        const a = await remoteWorkspace(remote, SMALL);
        ok(await on(remote, a, ['exp', 'run', '-n', 'x']), 'exp run');
        ok(await on(remote, a, ['exp', 'push', 'x']), 'exp push');
        const blobs = (await remote.list()).filter((b) => b.key.startsWith(where)).sort((p, q) => q.size - p.size);
        const data = await remote.get(blobs[0].key);
        data[data.length >> 1] ^= 0x40;
        await remote.put(blobs[0].key, data);

        const { ws, before } = await victim(remote);
        refused(await on(remote, ws, ['exp', 'pull', 'x']), 2, 'pull of a damaged experiment');
        assert.deepEqual(await json(remote, ws, ['exp', 'list']), before);
        ok(await on(remote, ws, ['fsck']), 'fsck');
      });

    test('a hostile record on the remote (an out ../x) is refused by pull: exit 2, nothing written or visible', async () => {
      const remote = await make();
      const attacker = await remoteWorkspace(remote, SMALL);
      await hostileExperiment(attacker, 'evil', '../x');
      ok(await on(remote, attacker, ['exp', 'push', 'evil']), 'push of the crafted experiment');

      const { ws, before } = await victim(remote);
      const line = refused(await on(remote, ws, ['exp', 'pull', 'evil']), 2, 'pull of a hostile experiment');
      assert.match(line, /\.\.\/x/);
      assert.deepEqual(await json(remote, ws, ['exp', 'list']), before);
      assert.ok(!existsSync(join(dirname(ws), 'x')));
      ok(await on(remote, ws, ['fsck']), 'fsck');
    });

    test('a damaged ref on the remote is refused by pull as hostile input: exit 2, nothing visible locally', async () => {
      const remote = await make();
      const { ws, before } = await victim(remote);
      ok(await on(remote, ws, ['exp', 'push', 'mine']), 'exp push');
      await remote.put('refs/exp/evil', Buffer.from('garbage\n'));
      for (const args of [['exp', 'pull', 'evil'], ['exp', 'pull', '--all']]) {
        assert.match(refused(await on(remote, ws, args), 2, args.join(' ')), /ref exp\/evil is damaged/);
        assert.deepEqual(await json(remote, ws, ['exp', 'list']), before);
      }
    });

    test('kill -9 during push and during pull leaves both sides consistent, and the next push and pull complete', async (t) => {
      const remote = await make();
      // On S3 a pack appears whole, and its index and the ref follow too soon to catch: the push is killed halfway through sending the pack instead.
      const proxy = kind === 's3' ? new Proxy(new URL(s3Endpoint ?? 'http://127.0.0.1:1')) : undefined;
      await proxy?.start();
      t.after(() => proxy?.cut());
      const a = await remoteWorkspace(proxy ? { ...remote, addArgs: ['--endpoint', `http://127.0.0.1:${proxy.port}`] } : remote, BIG);
      ok(await on(remote, a, ['exp', 'run', '-n', 'big']), 'exp run');
      const want = await json(remote, a, ['exp', 'list']);
      const midway = proxy ? async () => proxy.sent > 6 * 1024 * 1024 : async () => (await remote.list()).some((b) => b.key.startsWith('packs/'));
      const push = await killWhen(remote, a, ['exp', 'push', 'big'], midway);
      assert.equal(push.signal, 'SIGKILL', 'the push was killed before it ended');
      await proxy?.cut();
      if (proxy) {
        ok(await on(remote, a, ['remote', 'remove', 'origin', '-q']), 'remote remove');
        ok(await on(remote, a, ['remote', 'add', 'origin', remote.url, ...remote.addArgs, '-q']), 'remote add');
      }
      const onRemote = await json<unknown[]>(remote, a, ['exp', 'list', '-r', 'origin']);
      assert.ok(onRemote.length === 0 || JSON.stringify(onRemote) === JSON.stringify(want), `push ${push.signal ?? push.code}: remote shows ${JSON.stringify(onRemote)}`);
      if (onRemote.length > 0) {
        const third = await remoteWorkspace(remote, BIG);
        ok(await on(remote, third, ['exp', 'pull', 'big']), 'pull of what the killed push left');
      }
      ok(await on(remote, a, ['fsck']), 'fsck after a killed push');
      assert.deepEqual(await json(remote, a, ['exp', 'list']), want);
      ok(await on(remote, a, ['exp', 'push', 'big']), 'the push after');
      assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), want);

      const b = await remoteWorkspace(remote, BIG);
      const storeSize = async () => (await filesUnder(join(b, '.cairn'))).length;
      const empty = await storeSize();
      const pull = await killWhen(remote, b, ['exp', 'pull', 'big'], async () => (await storeSize()) > empty);
      assert.equal(pull.signal, 'SIGKILL', 'the pull was killed before it ended');
      const got = await json<unknown[]>(remote, b, ['exp', 'list']);
      assert.ok(got.length === 0 || JSON.stringify(got) === JSON.stringify(want), `pull ${pull.signal ?? pull.code}: local shows ${JSON.stringify(got)}`);
      ok(await on(remote, b, ['fsck']), 'fsck after a killed pull');
      ok(await on(remote, b, ['exp', 'pull', 'big']), 'the pull after');
      assert.deepEqual(await json(remote, b, ['exp', 'list']), want);
      ok(await on(remote, b, ['exp', 'apply', 'big', '--force']), 'apply');
      assert.equal(await sha(join(b, 'model.safetensors')), await sha(join(a, 'model.safetensors')));
    });

    if (kind === 'file') {
      test('a remote folder on a missing mount is one line naming the remote, exit 1; once back, the push completes', async () => {
        const remote = await make();
        const mount = join(await tempDir('cairn-mount-'), 'gone');
        // The remote's path leads into a mount point that is not there.
        await rm(remote.where, { recursive: true });
        await symlink(join(mount, 'remote'), remote.where);
        const a = await remoteWorkspace(remote, SMALL);
        ok(await on(remote, a, ['exp', 'run', '-n', 'x']), 'exp run');
        const line = refused(await on(remote, a, ['exp', 'push', 'x']), 1, 'push to a missing mount');
        assert.ok(line.includes(remote.url), line);
        await mkdir(join(mount, 'remote'), { recursive: true });
        ok(await on(remote, a, ['exp', 'push', 'x']), 'push once the mount is back');
        assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), await json(remote, a, ['exp', 'list']));
      });

      test('the remote folder gone mid-push (a file in its place) is one line naming the remote, exit 1; once back, the push completes', async () => {
        const remote = await make();
        const a = await remoteWorkspace(remote, BIG);
        ok(await on(remote, a, ['exp', 'run', '-n', 'big']), 'exp run');
        const away = `${remote.where}.away`;
        // The first write starts by making .tmp/; inotify reports it before the pack's bytes are written there.
        const watcher = watch(remote.where, (_, name) => {
          if (name !== '.tmp' || existsSync(away)) return;
          renameSync(remote.where, away);
          writeFileSync(remote.where, 'not a folder\n');
        });
        let line: string;
        try {
          line = refused(await on(remote, a, ['exp', 'push', 'big']), 1, 'push into a vanished folder');
        } finally {
          watcher.close();
        }
        assert.ok(existsSync(away), 'the folder was swapped mid-push');
        assert.ok(line.includes(remote.url), line);
        await rm(remote.where);
        renameSync(away, remote.where);
        assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), []);
        ok(await on(remote, a, ['exp', 'push', 'big']), 'push once the folder is back');
        assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), await json(remote, a, ['exp', 'list']));
      });
    }

    if (kind === 's3') {
      test('the server gone mid-push is one line naming the remote, exit 1; the next push completes', async () => {
        const remote = await make();
        const proxy = new Proxy(new URL(s3Endpoint ?? 'http://127.0.0.1:1'));
        await proxy.start();
        try {
          const via = { ...remote, addArgs: ['--endpoint', `http://127.0.0.1:${proxy.port}`] };
          const a = await remoteWorkspace(via, BIG);
          ok(await on(remote, a, ['exp', 'run', '-n', 'big']), 'exp run');
          const child = startCairn(['exp', 'push', 'big'], { cwd: a, env: remote.env });
          const done = collect(child);
          while (proxy.sent < 2 * 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
          await proxy.cut();
          const line = refused(await done, 1, 'push with the server gone');
          assert.ok(line.includes(remote.url), line);
          await proxy.start();
          ok(await on(remote, a, ['exp', 'push', 'big']), 'the push after');
          assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), await json(remote, a, ['exp', 'list']));
        } finally {
          await proxy.cut().catch(() => {});
        }
      });

      test('the server gone mid-pull is one line naming the remote, exit 1, nothing visible; the next pull completes', async (t) => {
        const remote = await make();
        const a = await remoteWorkspace(remote, BIG);
        ok(await on(remote, a, ['exp', 'run', '-n', 'big']), 'exp run');
        ok(await on(remote, a, ['exp', 'push', 'big']), 'exp push');
        const proxy = new Proxy(new URL(s3Endpoint ?? 'http://127.0.0.1:1'));
        await proxy.start();
        t.after(() => proxy.cut());
        const b = await remoteWorkspace({ ...remote, addArgs: ['--endpoint', `http://127.0.0.1:${proxy.port}`] }, SMALL);
        const done = collect(startCairn(['exp', 'pull', 'big'], { cwd: b, env: remote.env }));
        while (proxy.received < 2 * 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
        await proxy.cut();
        const line = refused(await done, 1, 'pull with the server gone');
        assert.ok(line.includes(remote.url), line);
        assert.deepEqual(await json(remote, b, ['exp', 'list']), []);
        ok(await on(remote, b, ['fsck']), 'fsck');
        await proxy.start();
        ok(await on(remote, b, ['exp', 'pull', 'big']), 'the pull after');
        assert.deepEqual(await json(remote, b, ['exp', 'list']), await json(remote, a, ['exp', 'list']));
      });

      test('wrong credentials: one line with the HTTP status, exit 1; no secret in any output or under .cairn/', async () => {
        const remote = await make();
        const wrong = 'wrong-SEKRET-d41d8cd98f00';
        const secret = remote.env.AWS_SECRET_ACCESS_KEY!;
        const outputs: string[] = [];
        const a = await remoteWorkspace(remote, SMALL);
        ok(await on(remote, a, ['exp', 'run', '-n', 'x']), 'exp run');
        for (const args of [['exp', 'push', 'x'], ['exp', 'pull', '--all'], ['exp', 'list', '-r', 'origin'], ['exp', 'remove', '-r', 'origin', 'x']]) {
          const r = await on(remote, a, args, { AWS_SECRET_ACCESS_KEY: wrong });
          outputs.push(r.stdout, r.stderr);
          const line = refused(r, 1, args.join(' '));
          assert.ok(line.includes(remote.url) && /HTTP 403/.test(line), line);
        }
        for (const args of [['exp', 'push', 'x'], ['exp', 'list', '-r', 'origin'], ['remote', 'list'], ['exp', 'pull', '--all']]) {
          const r = await on(remote, a, [...args, '-v']);
          ok(r, args.join(' '));
          outputs.push(r.stdout, r.stderr);
        }
        for (const out of outputs) assert.ok(!out.includes(wrong) && !out.includes(secret), `a secret leaked:\n${out}`);
        for (const f of await filesUnder(join(a, '.cairn'))) {
          const text = (await readFile(f)).toString('latin1');
          assert.ok(!text.includes(wrong) && !text.includes(secret), `a secret in ${f}`);
        }
      });
    }
  });
}
