/**
 * @cairn/lineage: checkpoints and experiments on top of @cairn/store.
 * Checkpoints are immutable records linked to their parent and to every out
 * and dep they captured; an experiment is the ref `exp/<name>` pointing at a
 * small experiment-state record that names its tip. Knows nothing of
 * processes, YAML or the CLI.
 */
export {
  appendCheckpoint,
  chain,
  compareNewestFirst,
  createExperiment,
  findExperiment,
  getExperiment,
  listExperiments,
  removeExperiment,
  removeExperiments,
  renameExperiment,
  type AppendOptions,
  type AppendResult,
  type CheckpointInput,
  type CreateExperimentOptions,
  type Experiment,
  type ExperimentListing,
} from './experiments.js';
export { showData, showView, type ShowExperiment, type ShowBaseline } from './show.js';
export { type ShowCheckpoint, type Summary, rebuildSummary, getSummary } from './summary.js';
export { resolveRef } from './resolve.js';
// Lineage's records are store records: a copy of one made outside the store (a shallow export) must encode, and so hash, exactly as the store does.
export { encodeRecord } from '@cairn/store';
export { ancestors, commonAncestor, isAncestor, walkChain, type ChainEntry } from './graph.js';
export { checkName, isValidName, randomName, expRef, EXP_REF_PREFIX } from './names.js';
export { displayParams, sortKeysDeep, DEFAULT_PARAMS_FILE } from './params.js';
export { verifyExperiments, type LineageProblem } from './verify.js';
export { checkWorkspacePath, isWorkspacePath, workspacePathProblem, pathsOverlap, RESERVED_DIRS, RESERVED_FILES } from './workspace-path.js';
export {
  BASELINE_KIND,
  checkRecordPaths,
  CHECKPOINT_KIND,
  EXPERIMENT_KIND,
  RECORD_VERSION,
  checkpointLinks,
  getBaseline,
  isCheckpointBody,
  isObjectId,
  putBaseline,
  putExperimentState,
  readCheckpoint,
  readExperimentState,
  shortId,
  utcSeconds,
  type BaselineRecord,
  type BaselineState,
  type CheckpointRecord,
  type DepEntry,
  type EntryKind,
  type ExperimentState,
  type Metrics,
  type OutEntry,
  type Params,
} from './records.js';
