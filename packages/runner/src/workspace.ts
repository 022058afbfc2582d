/**
 * The workspace's current params and metrics: the `workspace` row of
 * `exp show` and the "new" side of `exp diff`.
 */
import { displayParams } from '@cairn/lineage';
import { loadPipeline, selectStage } from './pipeline.js';
import { readParams } from './params.js';
import { readMetrics } from './metrics.js';

export interface WorkspaceState {
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

/** Empty when the workspace has no pipeline file; params or metrics that cannot be read are left out. */
export async function readWorkspaceState(workspace: string, stageName?: string): Promise<WorkspaceState> {
  let stage;
  try {
    stage = selectStage(await loadPipeline(workspace), stageName);
  } catch {
    return { params: {}, metrics: {} };
  }
  const params = await readParams(workspace, stage.params, { allowMissing: true }).catch(() => ({}));
  const files = await readMetrics(workspace, stage.metrics.map((m) => m.path)).catch(() => ({}));
  const metrics: Record<string, unknown> = {};
  for (const v of Object.values(files)) Object.assign(metrics, v);
  return { params: displayParams(params), metrics };
}
