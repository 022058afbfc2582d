/**
 * @cairn/transfer: experiments in and out of a store as one tarball
 * (`cairn exp export` / `cairn exp import`). The layout is in
 * docs/FORMAT.md, "Tarball layout": a manifest entry, then one entry per
 * object holding its stored bytes, each object once.
 */
export { planExport, detachForExport, writeExport, exportToFile, summarize, type ExportOptions, type ExportPlan, type ObjectSource, type ExportSummary, type WriteOptions } from './export.js';
export { importExperiments, type ImportOptions, type ImportResult, type ImportedExperiment, type ImportAction } from './import.js';
export { openTarball, tarBytes, tarballFd } from './input.js';
export {
  MANIFEST_NAME,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MAX_MANIFEST_BYTES,
  MAX_OBJECT_BYTES,
  objectEntryName,
  parseManifest,
  type Manifest,
  type ManifestExperiment,
  type ManifestObject,
} from './manifest.js';
// Remotes: the same experiments moved through an ObjectBackend (see @cairn/store's backend.ts) instead of a tarball.
export { pushExperiments, planPush, detachForPush, sendPush, type PushPlan, type PushOptions, type PushReport, type PushedExperiment, type PushAction } from './push.js';
export { pullExperiments, type PullOptions, type PullReport, type PulledExperiment, type PullAction } from './pull.js';
export { listRemoteExperiments, removeRemoteExperiments, type RemoteExperiment } from './remote-list.js';
export { copyObjects, type CopyOptions, type CopyReport, type ObjectReader, type ObjectWriter } from './copy-objects.js';
export { checkArrivedExperiment } from './check.js';
export { walkRemote } from './remote-walk.js';
