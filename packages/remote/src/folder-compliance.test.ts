import { backendCompliance } from '@cairn/store/compliance';
import { FolderBlobStore } from './folder.js';
import { RemoteBackend, type RemoteBackendOptions } from './remote-backend.js';
import { tempDir } from './testing/temp.js';

/** A fresh folder remote per test; reopening makes a new backend on the same folder, as another process would. */
function onFolder(opts: RemoteBackendOptions) {
  return async () => {
    const dir = await tempDir();
    let open = new RemoteBackend(new FolderBlobStore(dir), opts);
    return {
      backend: open,
      reopen: async () => {
        await open.close();
        open = new RemoteBackend(new FolderBlobStore(dir), opts);
        return open;
      },
      dispose: async () => {
        await open.close().catch(() => {});
      },
    };
  };
}

backendCompliance('remote on a folder', onFolder({}));
// Packs of 100 KiB: the suite's puts then seal packs while others are still being put.
backendCompliance('remote on a folder, small packs', onFolder({ packSize: 100 * 1024 }));
