import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../store.js';
import { storeBackend } from '../local-backend.js';
import { tempDir } from '../testing/temp.js';
import type { ObjectBackend } from '../backend.js';
import { backendCompliance } from './suite.js';

// The local pack store is the reference backend: the suite must pass here first.
backendCompliance('pack store', async () => {
  const work = await tempDir('cairn-compliance-');
  const dir = join(work, 'store');
  await Store.init(dir);
  let open: ObjectBackend = storeBackend(await Store.open(dir));
  return {
    backend: open,
    reopen: async () => {
      await open.close();
      open = storeBackend(await Store.open(dir));
      return open;
    },
    dispose: async () => {
      await open.close().catch(() => {});
      await rm(work, { recursive: true, force: true });
    },
  };
});
