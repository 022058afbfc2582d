import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { CairnError } from '@cairn/store';
import { checkKey, conflict, notFound, remoteFailure, type BlobHead, type BlobInfo, type BlobStore, type ByteRange, type KnownBody, type PutCondition } from './blob-store.js';

export interface S3Options {
  bucket: string;
  /** Keys are stored under `prefix/` ('' for the bucket's top). */
  prefix: string;
  /** An S3-compatible server (`http://127.0.0.1:9000`); else AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string;
  /** Credentials, region and endpoint come from here (process.env by default). */
  env?: NodeJS.ProcessEnv;
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const statusOf = (err: unknown): number | undefined => (err as SdkError)?.$metadata?.httpStatusCode;
const attemptsOf = (err: unknown): number => (err as SdkError)?.$metadata?.attempts ?? 1;
const unquote = (etag: string | undefined) => (etag ?? '').replace(/^"(.*)"$/, '$1');

/**
 * A BlobStore on an S3 bucket (AWS or a compatible server such as Ceph's
 * radosgw or MinIO). Conditional puts use If-None-Match / If-Match on a
 * single PutObject, never a multipart upload, whose completion some
 * servers (radosgw) accept without checking the condition.
 */
export class S3BlobStore implements BlobStore {
  readonly url: string;
  private readonly base: string;

  private constructor(private readonly client: S3Client, private readonly bucket: string, prefix: string) {
    this.base = prefix ? `${prefix}/` : '';
    this.url = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
  }

  static async open(opts: S3Options): Promise<S3BlobStore> {
    return new S3BlobStore(new S3Client(clientConfig(opts)), opts.bucket, opts.prefix);
  }

  private fail(doing: string, err: unknown): Error {
    if (err instanceof CairnError) return err;
    const status = statusOf(err);
    const name = (err as SdkError)?.name;
    const hint =
      name === 'CredentialsProviderError'
        ? 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE'
        : status === 401 || status === 403
          ? 'check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE), the region and the bucket policy'
          : name === 'NoSuchBucket'
            ? `create the bucket ${this.bucket}, or check its name`
            : undefined;
    return remoteFailure(this.url, doing, err, status, hint);
  }

  private key(key: string): string {
    checkKey(key);
    return this.base + key;
  }

  async get(key: string, range?: ByteRange): Promise<{ data: Buffer; etag: string }> {
    const Key = this.key(key);
    if (range && range.length === 0) return { data: Buffer.alloc(0), etag: '' };
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key, Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined }),
      );
      return { data: await bodyBytes(res.Body, res.ContentLength), etag: unquote(res.ETag) };
    } catch (err) {
      const status = statusOf(err);
      // A missing bucket is a 404 too, and must not read as a missing ref.
      if ((err as SdkError).name === 'NoSuchKey' || (status === 404 && (err as SdkError).name !== 'NoSuchBucket')) throw notFound(this.url, key);
      // A range that starts past the end: the bytes there are none (the caller checks lengths).
      if (status === 416) return { data: Buffer.alloc(0), etag: '' };
      throw this.fail(`GetObject ${key}`, err);
    }
  }

  async put(key: string, body: Buffer, cond?: PutCondition, known?: KnownBody): Promise<{ etag: string }> {
    const Key = this.key(key);
    try {
      const command = new PutObjectCommand({
        Bucket: this.bucket,
        Key,
        Body: body,
        ContentLength: body.length,
        // radosgw matches If-Match only against the bare ETag, without the quotes HTTP puts around it.
        ...(cond && 'ifNoneMatch' in cond ? { IfNoneMatch: '*' } : cond ? { IfMatch: unquote(cond.ifMatch) } : {}),
      });
      const sha256 = known?.sha256;
      if (sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256)) {
        // The signer signs the body's hash as this header gives it, and hashes the body itself only without one (see @smithy/signature-v4 getPayloadHash); the server still checks it.
        command.middlewareStack.add(
          (next) => (args) => {
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) request.headers['x-amz-content-sha256'] = sha256;
            return next(args);
          },
          { step: 'build', name: 'cairnKnownSha256' },
        );
      }
      const res = await this.client.send(command);
      return { etag: unquote(res.ETag) };
    } catch (err) {
      if (!cond) throw this.fail(`PutObject ${key}`, err);
      const status = statusOf(err);
      const refused = status === 412 || status === 409;
      // A 5xx (radosgw answers some lost races with 500), or a refusal after the SDK retried (the first try may have landed), leaves the
      // outcome unknown: read the blob back. Bodies that must be told apart carry a nonce, so equal bytes mean this write won.
      if (!refused && !(status !== undefined && status >= 500)) throw this.fail(`PutObject ${key}`, err);
      if (refused && attemptsOf(err) <= 1) throw conflict(this.url, key, 'ifNoneMatch' in cond ? 'already exists' : 'changed underneath');
      let now;
      try {
        now = await this.get(key);
      } catch (readErr) {
        if (readErr instanceof CairnError && readErr.code === 'NOT_FOUND') {
          if ('ifMatch' in cond) throw conflict(this.url, key, 'does not exist');
          throw this.fail(`PutObject ${key}`, err);
        }
        throw readErr;
      }
      if (now.data.equals(body)) return { etag: now.etag };
      throw conflict(this.url, key, 'ifNoneMatch' in cond ? 'already exists' : 'changed underneath');
    }
  }

  async head(key: string): Promise<BlobHead | null> {
    const Key = this.key(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: res.ContentLength ?? 0, etag: unquote(res.ETag), modified: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (statusOf(err) === 404 || (err as SdkError).name === 'NotFound') return null;
      throw this.fail(`HeadObject ${key}`, err);
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base + prefix, ContinuationToken: token }));
      } catch (err) {
        throw this.fail(`ListObjectsV2 ${prefix}`, err);
      }
      for (const o of res.Contents ?? []) {
        if (!o.Key?.startsWith(this.base)) continue;
        yield { key: o.Key.slice(this.base.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    const Key = this.key(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      throw this.fail(`DeleteObject ${key}`, err);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/**
 * A response body's bytes, read straight into one buffer of the length the
 * server announced (the SDK's transformToByteArray gathers the chunks and
 * joins them, and a Buffer made of that is one more copy: for a pull's
 * ranges of several MiB, most of its time). Any other body, or one longer
 * than announced, goes the SDK's way.
 */
async function bodyBytes(body: unknown, length: number | undefined): Promise<Buffer> {
  const stream = body as (AsyncIterable<Uint8Array> & { transformToByteArray?: () => Promise<Uint8Array> }) | undefined;
  if (!stream) return Buffer.alloc(0);
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || typeof stream[Symbol.asyncIterator] !== 'function') {
    const bytes = await stream.transformToByteArray!();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  let data = Buffer.allocUnsafe(length);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.length > data.length) {
      // More than announced: keep it all (the caller checks lengths).
      const grown = Buffer.allocUnsafe(Math.max(data.length * 2, at + chunk.length));
      data.copy(grown, 0, 0, at);
      data = grown;
    }
    data.set(chunk, at);
    at += chunk.length;
  }
  return at === data.length ? data : data.subarray(0, at);
}

/**
 * The client's settings from `env`: the SDK's own chain finds credentials
 * (keys, session token, AWS_PROFILE, ~/.aws/credentials); keys are passed
 * explicitly only when `env` is not process.env, which the chain reads.
 */
export function clientConfig(opts: S3Options): S3ClientConfig {
  const env = opts.env ?? process.env;
  const endpoint = opts.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const config: S3ClientConfig = {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    // Checksums on every request break streaming bodies on radosgw and older servers; S3 verifies Content-Length and TLS anyway.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // No "Expect: 100-continue" before a pack's body: it costs a round trip per pack, to save sending a body only when the put is refused.
    expectContinueHeader: false,
    // Without these a server that stops answering hangs the command forever; idle is measured per socket, so big packs are not cut off.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
  };
  if (endpoint) {
    config.endpoint = endpoint;
    // Compatible servers on a host:port have no per-bucket DNS names.
    config.forcePathStyle = true;
  }
  if (env !== process.env) {
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      config.credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN };
    } else if (env.AWS_PROFILE) {
      config.profile = env.AWS_PROFILE;
    }
  }
  return config;
}
