/**
 * @cairn/remote: cairn's objects and refs on an S3-compatible bucket or a
 * plain (shared) folder, as an ObjectBackend. See README.md and
 * docs/FORMAT.md ("Remotes") for the layout.
 */
import { mkdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '@cairn/store';
import { checkKey, remoteFailure } from './blob-store.js';
import { FolderBlobStore } from './folder.js';
import { RemoteBackend } from './remote-backend.js';

export { RemoteBackend, DEFAULT_PACK_SIZE, type RemoteBackendOptions } from './remote-backend.js';
export { FolderBlobStore } from './folder.js';
export { collectRemote, parseDuration, type RemoteGcOptions, type RemoteGcReport, type RemoteWalk } from './gc.js';
export type { BlobStore, BlobHead, BlobInfo, ByteRange, KnownBody, PutCondition } from './blob-store.js';
export type { S3Options } from './s3.js';

export interface OpenRemoteOptions {
  /** An S3 endpoint (`http://127.0.0.1:9000`); else AWS_ENDPOINT_URL, else AWS's. */
  endpoint?: string;
  /** Where credentials, region and endpoint are read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** A local folder for caching the remote's index objects. */
  cacheDir?: string;
}

/** A parsed remote URL. */
export type RemoteLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'file'; path: string };

// S3's bucket naming rules (lowercase, digits, dots, hyphens); refusing others early gives a clearer error than the server would.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket/prefix` or `file:///path`; anything else is BAD_INPUT. */
export function parseRemoteUrl(url: string): RemoteLocation {
  const bad = (why: string) =>
    new CairnError('BAD_INPUT', `not a remote: '${url.slice(0, 200)}' (${why})`, {
      fields: { name: url.slice(0, 200) },
      hint: 'use s3://BUCKET/PREFIX or file:///ABSOLUTE/PATH',
    });
  const s3 = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (s3) {
    const [, bucket, rest = ''] = s3;
    if (!BUCKET.test(bucket)) throw bad('not a valid bucket name');
    const prefix = rest.replace(/\/+$/, '');
    if (prefix) {
      try {
        checkKey(prefix);
      } catch {
        throw bad("the prefix may hold letters, digits, '.', '_' and '-', with '/' between parts");
      }
    }
    return { kind: 's3', bucket, prefix };
  }
  if (url.startsWith('file:')) {
    // `file:rel` and `file:/x` parse as URLs too; only the usual spelling is taken, so a typo cannot create a folder somewhere odd.
    if (!url.startsWith('file:///')) throw bad('write file:///ABSOLUTE/PATH');
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (err) {
      throw bad((err as Error).message);
    }
    if (!isAbsolute(path)) throw bad('the path must be absolute');
    return { kind: 'file', path: path.length > 1 ? path.replace(/\/+$/, '') : path };
  }
  throw bad('only s3:// and file:// remotes are supported');
}

/**
 * Opens a remote as an ObjectBackend. The S3 client is loaded only here,
 * when an s3:// remote is opened, so commands that never touch a remote
 * start as fast as before.
 */
export async function openRemote(url: string, opts: OpenRemoteOptions = {}): Promise<RemoteBackend> {
  const where = parseRemoteUrl(url);
  if (where.kind === 'file') {
    try {
      await mkdir(where.path, { recursive: true });
    } catch (err) {
      throw remoteFailure(url, 'creating the folder', err);
    }
    return new RemoteBackend(new FolderBlobStore(where.path), { cacheDir: opts.cacheDir });
  }
  // cairn supports the Node it declares (>=20.19); the SDK's notice that its future releases will not would be printed on every command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3BlobStore } = await import('./s3.js');
  const store = await S3BlobStore.open({ bucket: where.bucket, prefix: where.prefix, endpoint: opts.endpoint, env: opts.env });
  return new RemoteBackend(store, { cacheDir: opts.cacheDir });
}
