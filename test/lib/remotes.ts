/**
 * The two kinds of remote the black-box remote tests run against: a folder
 * (file://) and a bucket on a real S3 server (CAIRN_TEST_S3_ENDPOINT; the
 * S3 variants skip loudly without one, and fail in CI). Each test gets a
 * fresh remote, and a raw view of its keys to count or tamper with.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FolderBlobStore, type BlobInfo, type BlobStore } from '@cairn/remote';
import { bucketStore, makeBucket, s3Endpoint, s3Env, skipS3 } from '@cairn/remote/testing';
import { cairn, tempDir, type RunResult } from './cli.js';

export interface TestRemote {
  kind: 'file' | 's3';
  url: string;
  /** `cairn remote add` arguments after NAME URL. */
  addArgs: string[];
  /** What every cairn run against it needs in its environment (credentials, and nothing from the caller's AWS setup). */
  env: Record<string, string | undefined>;
  /** The folder (file://) or bucket (s3://) holding it. */
  where: string;
  /** Keys relative to the remote's root. */
  list(): Promise<BlobInfo[]>;
  get(key: string): Promise<Buffer>;
  /** Overwrites a blob, as a hostile or broken remote would. */
  put(key: string, data: Buffer): Promise<void>;
}

export interface RemoteKind {
  kind: 'file' | 's3';
  skip: false | string;
  make(): Promise<TestRemote>;
}

function view(store: BlobStore, prefix: string): Pick<TestRemote, 'list' | 'get' | 'put'> {
  return {
    async list() {
      const out: BlobInfo[] = [];
      for await (const b of store.list(prefix)) out.push({ ...b, key: b.key.slice(prefix.length) });
      return out.sort((x, y) => x.key.localeCompare(y.key));
    },
    async get(key) {
      return (await store.get(prefix + key)).data;
    },
    async put(key, data) {
      await store.put(prefix + key, data);
    },
  };
}

const noAws = { AWS_PROFILE: undefined, AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined };

export const KINDS: RemoteKind[] = [
  {
    kind: 'file',
    skip: false,
    async make() {
      const where = join(await tempDir('cairn-remote-'), 'remote');
      await mkdir(where);
      return { kind: 'file', url: pathToFileURL(where).href, addArgs: [], env: noAws, where, ...view(new FolderBlobStore(where), '') };
    },
  },
  {
    kind: 's3',
    skip: skipS3,
    async make() {
      const bucket = await makeBucket();
      const env = { ...noAws, AWS_ACCESS_KEY_ID: s3Env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3Env.AWS_SECRET_ACCESS_KEY, AWS_REGION: 'us-east-1' };
      const url = `s3://${bucket}/cairn`;
      return { kind: 's3', url, addArgs: ['--endpoint', s3Endpoint ?? 'http://127.0.0.1:1'], env, where: bucket, ...view(await bucketStore(bucket), 'cairn/') };
    },
  },
];

export function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** The `cairn: error:` lines of a run's stderr. */
export const errorLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('cairn: error:'));

/** Total of the remote's pack and index blobs (refs are rewritten by design). */
export async function objectBlobs(remote: TestRemote): Promise<{ count: number; bytes: number; keys: string[] }> {
  const blobs = (await remote.list()).filter((b) => !b.key.startsWith('refs/'));
  return { count: blobs.length, bytes: blobs.reduce((n, b) => n + b.size, 0), keys: blobs.map((b) => `${b.key} ${b.size}`) };
}

/**
 * A training run writing what the size tests need: `model.safetensors` of
 * `tensors` 1 MiB F32 tensors, of which only t00 changes from one step to
 * the next, and `data/` holding `files` small files, every one of which
 * changes each step.
 */
export const GEN_PY = String.raw`import json, os, random, struct
from cairn import make_checkpoint

p = {}
for line in open("params.yaml"):
    if ":" in line:
        k, v = (s.strip() for s in line.split(":", 1))
        p[k] = int(v)
start = int(os.environ.get("CAIRN_STEP", "0"))
for e in range(p["epochs"]):
    step = start + e
    if p["tensors"]:
        header, blobs, off = {}, [], 0
        for i in range(p["tensors"]):
            data = random.Random("%d:%d:%d" % (p["seed"], i, e if i == 0 else 0)).randbytes(1 << 20)
            header["t%02d" % i] = {"dtype": "F32", "shape": [len(data) // 4], "data_offsets": [off, off + len(data)]}
            off += len(data)
            blobs.append(data)
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open("model.safetensors.tmp", "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
        os.replace("model.safetensors.tmp", "model.safetensors")
    if p["files"]:
        os.makedirs("data", exist_ok=True)
        for k in range(p["files"]):
            with open("data/f%03d.txt" % k, "w") as f:
                f.write("seed %d file %d step %d\n" % (p["seed"], k, step))
    with open("metrics.json", "w") as f:
        json.dump({"step": step}, f)
    make_checkpoint()
`;

export interface GenParams {
  epochs: number;
  tensors: number;
  files: number;
  seed: number;
}

/** A workspace with `origin` added: the example pipeline, or GEN_PY when `gen` is given. */
export async function remoteWorkspace(remote: TestRemote, gen?: GenParams): Promise<string> {
  const ws = await tempDir('cairn-ws-');
  const env = remote.env;
  if (gen) {
    ok(await cairn(['init', '-q'], { cwd: ws, env }), 'init');
    const outs = [gen.tensors ? '      - model.safetensors:\n          checkpoint: true\n' : '', gen.files ? '      - data:\n          checkpoint: true\n' : ''].join('');
    const yaml = `stages:\n  train:\n    cmd: python3 gen.py\n    deps:\n      - gen.py\n    params:\n      - epochs\n      - tensors\n      - files\n      - seed\n    outs:\n${outs}    metrics:\n      - metrics.json:\n          cache: false\n`;
    await writeFile(join(ws, 'cairn.yaml'), yaml);
    await writeFile(join(ws, 'gen.py'), GEN_PY);
    await writeFile(join(ws, 'params.yaml'), Object.entries(gen).map(([k, v]) => `${k}: ${v}\n`).join(''));
  } else {
    ok(await cairn(['init', '--example', '-q'], { cwd: ws, env }), 'init');
  }
  ok(await cairn(['remote', 'add', 'origin', remote.url, ...remote.addArgs, '-q'], { cwd: ws, env }), 'remote add');
  return ws;
}

/** Runs cairn in `ws` against `remote` (its credentials in the environment). */
export function on(remote: TestRemote, ws: string, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return cairn(args, { cwd: ws, env: { ...remote.env, ...env } });
}

export async function json<T>(remote: TestRemote, ws: string, args: string[]): Promise<T> {
  const r = await on(remote, ws, [...args, '--json']);
  ok(r, args.join(' '));
  return JSON.parse(r.stdout) as T;
}
