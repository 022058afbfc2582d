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
