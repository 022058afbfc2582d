import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { clientConfig, S3BlobStore } from '../s3.js';
import type { BlobStore } from '../blob-store.js';

export { tempDir } from './temp.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The S3 server the tests use: CAIRN_TEST_S3_ENDPOINT (tools/s3/start-s3.sh
 * starts one), with CAIRN_TEST_S3_ACCESS_KEY / CAIRN_TEST_S3_SECRET_KEY
 * (default that script's "test" / "testsecret"). Without an endpoint the S3
 * tests skip, loudly; in CI (CI set) they run anyway, and so fail, since a
 * green run that never reached S3 would prove nothing.
 */
const endpoint = process.env.CAIRN_TEST_S3_ENDPOINT;
const inCI = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI!.toLowerCase());

export const s3Env: NodeJS.ProcessEnv = {
  AWS_ACCESS_KEY_ID: process.env.CAIRN_TEST_S3_ACCESS_KEY ?? 'test',
  AWS_SECRET_ACCESS_KEY: process.env.CAIRN_TEST_S3_SECRET_KEY ?? 'testsecret',
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL: endpoint ?? 'http://127.0.0.1:1',
};

/** `false` to run the S3 tests, else the reason to skip them (node:test's `skip` option). */
export const skipS3: false | string = endpoint || inCI ? false : 'CAIRN_TEST_S3_ENDPOINT is not set';
if (!endpoint) {
  console.error(
    inCI
      ? '\n!!! CAIRN_TEST_S3_ENDPOINT is not set and CI is set: the S3 tests FAIL (.ci/run starts a server with tools/s3/start-s3.sh).\n'
      : '\n!!! CAIRN_TEST_S3_ENDPOINT is not set: the S3 tests are SKIPPED. Start a server with\n!!!   S3_OSD_STORE=memstore tools/s3/start-s3.sh\n!!! and run with CAIRN_TEST_S3_ENDPOINT=http://127.0.0.1:9000\n',
  );
  if (inCI) process.exitCode = 1;
}

let client: S3Client | undefined;
const buckets: string[] = [];

function admin(): S3Client {
  client ??= new S3Client(clientConfig({ bucket: 'x', prefix: '', env: s3Env }));
  return client;
}

/** A new, empty bucket with a unique name, emptied and removed when the test file ends. */
export async function makeBucket(): Promise<string> {
  const name = `cairn-test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await admin().send(new CreateBucketCommand({ Bucket: name }));
  buckets.push(name);
  return name;
}

let shared: string | undefined;
/** One bucket per test file; tests keep apart by prefix. */
export async function testBucket(): Promise<string> {
  shared ??= await makeBucket();
  return shared;
}

/** A BlobStore on a fresh prefix of the file's bucket. */
export async function s3Store(prefix = randomBytes(6).toString('hex')): Promise<S3BlobStore> {
  return S3BlobStore.open({ bucket: await testBucket(), prefix, env: s3Env });
}

after(async () => {
  if (!client) return;
  for (const Bucket of buckets.splice(0)) {
    for (;;) {
      const res = await client.send(new ListObjectsV2Command({ Bucket }));
      const keys = (res.Contents ?? []).map((o) => o.Key!);
      if (keys.length === 0) break;
      // One by one: DeleteObjects needs a Content-MD5 that older servers insist on and the SDK no longer sends.
      await Promise.all(keys.map((Key) => client!.send(new DeleteObjectCommand({ Bucket, Key }))));
    }
    await client.send(new DeleteBucketCommand({ Bucket }));
  }
  client.destroy();
});

/** The endpoint the S3 tests talk to (for `cairn remote add --endpoint`), or undefined when skipped. */
export const s3Endpoint: string | undefined = endpoint;

/** A BlobStore over a whole bucket, to look at (or tamper with) what cairn wrote there. */
export async function bucketStore(bucket: string): Promise<BlobStore> {
  return S3BlobStore.open({ bucket, prefix: '', env: s3Env });
}
