/**
 * @cairn/runner: runs a pipeline stage as a checkpoint experiment —
 * pipeline files, params, the signal protocol, cairn.lock — on top of
 * @cairn/lineage and @cairn/store.
 */
export { runExperiment, type RunOptions, type RunResult, type RunEvent } from './run.js';
export { loadPipeline, parsePipeline, selectStage, PIPELINE_FILES, DEFAULT_PARAMS_FILE, type Pipeline, type Stage, type OutSpec, type ParamSpec, type MetricSpec } from './pipeline.js';
export { readParams, setParams, missingParamKeys, writeParamsValues, parseSetArg, groupSetArgs, getParam, type ParamValues } from './params.js';
export { readMetrics, flatten, mergeMetrics, type MetricValues } from './metrics.js';
export { SignalWatcher, decodeSignal, dvcSignalPath, prepareDvcTmp, type Signal, type SignalPayload } from './signal.js';
export { makeCheckpoint, signalCheckpoint, parseMetricArgs, resolveSignalPath } from './checkpoint.js';
export { buildRunEnv, pythonModuleDir } from './env.js';
export { readLock, parseLock, renderLock, writeLock, LOCK_FILE, type LockState, type LockEntry } from './lockfile.js';
export { parseStructured, parseJsonLenient, formatOf, type Format } from './structured.js';
export { capturePaths, sameEntries, sameValues } from './snapshot.js';
export { readWorkspaceState, type WorkspaceState } from './workspace.js';
export { applyCheckpoint, type ApplyOptions, type ApplyResult } from './apply.js';
export { diffExperiments, type DiffOptions, type DiffResult, type ValueChange, type PathChange } from './diff.js';
export { listRunning, refuseRunning, takeRunLease } from './running.js';
export { renderReport, buildReportModel, loadReportAssets, writeReportFile, writeLiveReport, LiveReport, lineageOf, LIVE_REPORT_FILE, type ReportAssets, type ReportModel, type RenderOptions, type LiveReportOptions, type LiveReportEvent } from './report/index.js';
