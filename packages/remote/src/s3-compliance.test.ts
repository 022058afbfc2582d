import { backendCompliance } from '@cairn/store/compliance';
import { describe } from 'node:test';
import { randomBytes } from 'node:crypto';
import { RemoteBackend, type RemoteBackendOptions } from './remote-backend.js';
import { s3Store, skipS3 } from './testing/s3.js';

/** A fresh prefix of the test bucket per test; reopening makes a new client and backend on it. */
function onS3(opts: RemoteBackendOptions) {
  return async () => {
    const prefix = randomBytes(6).toString('hex');
    let open = new RemoteBackend(await s3Store(prefix), opts);
    return {
      backend: open,
      reopen: async () => {
        await open.close();
        open = new RemoteBackend(await s3Store(prefix), opts);
        return open;
      },
      dispose: async () => {
        await open.close().catch(() => {});
      },
    };
  };
}

describe('S3', { skip: skipS3 }, () => {
  backendCompliance('remote on S3', onS3({}));
  backendCompliance('remote on S3, small packs', onS3({ packSize: 100 * 1024 }));
});
