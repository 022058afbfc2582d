/**
 * The live report of `live: {html: true}`: `cairn-live.html` in the
 * workspace, rewritten after every checkpoint, reloading itself every few
 * seconds in the browser (as DVC's was).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Store } from '@cairn/store';
import { showData, type ShowExperiment } from '@cairn/lineage';
import { renderReport } from './html.js';
import { loadReportAssets, writeReportFile } from './files.js';

export const LIVE_REPORT_FILE = 'cairn-live.html';
export const LIVE_REFRESH_SECONDS = 5;

export interface LiveReportOptions {
  /** Show this experiment and the ones it branched from (default: every experiment). */
  experiment?: string;
  /** Where to write, relative to the workspace (default `cairn-live.html`). */
  file?: string;
  /** Reload interval in the browser (default 5 s; 0: none). */
  refreshSeconds?: number;
}

export interface LiveReportHandleOptions extends Omit<LiveReportOptions, 'experiment'> {
  /** Print the file:// address after every refresh, as DVC 2.x did, not only the first. */
  announceEach?: boolean;
  /**
   * Leave `file` alone when something other than cairn wrote it (DVCLive
   * with DVCLIVE_HTML=1 writes its own report there) and point at that one.
   */
  yieldToOthers?: boolean;
}

const GENERATOR_TAG = '<meta name="generator" content="cairn">';

/** True when `file` exists and cairn did not write it. */
async function writtenByOthers(file: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return !buf.subarray(0, bytesRead).toString('utf8').includes(GENERATOR_TAG);
  } finally {
    await fh.close();
  }
}

/**
 * The experiment `name` and, before it, the experiments it started from,
 * each of those cut at the checkpoint the next one branched from: the whole
 * history of what is training now, one colour per experiment.
 */
export function lineageOf(all: ShowExperiment[], name: string): ShowExperiment[] {
  const owner = new Map<string, ShowExperiment>();
  for (const e of all) for (const c of e.checkpoints) owner.set(c.id, e);
  const out: ShowExperiment[] = [];
  const seen = new Set<string>();
  let e = all.find((x) => x.name === name);
  let cutAt: string | null = null;
  while (e && !seen.has(e.name)) {
    seen.add(e.name);
    let checkpoints = e.checkpoints;
    if (cutAt !== null) {
      const i = checkpoints.findIndex((c) => c.id === cutAt);
      if (i > 0) checkpoints = checkpoints.slice(i);
    }
    out.push({ ...e, checkpoints });
    cutAt = e.parent;
    e = e.parent ? owner.get(e.parent) : undefined;
  }
  return out;
}

/**
 * Writes the live report of `workspace` from the store at `storeDir`
 * (opened briefly, like a checkpoint) and returns its path and file:// URL.
 */
export async function writeLiveReport(storeDir: string, workspace: string, opts: LiveReportOptions = {}): Promise<{ path: string; url: string }> {
  const all = await Store.with(storeDir, (store) => showData(store));
  const shown = opts.experiment === undefined ? all : lineageOf(all, opts.experiment);
  const file = path.resolve(workspace, opts.file ?? LIVE_REPORT_FILE);
  const html = renderReport(shown, {
    assets: loadReportAssets(),
    all,
    title: opts.experiment === undefined ? 'cairn live' : `cairn live: ${opts.experiment}`,
    subtitle: `${path.resolve(workspace)} · reloads every ${opts.refreshSeconds ?? LIVE_REFRESH_SECONDS} s`,
    generated: new Date().toISOString(),
    refreshSeconds: opts.refreshSeconds ?? LIVE_REFRESH_SECONDS,
  });
  await writeReportFile(file, html);
  return { path: file, url: pathToFileURL(file).href };
}

/** What LiveReport reports: RunEvent's info and warning shapes. */
export type LiveReportEvent = { type: 'info'; message: string } | { type: 'warning'; message: string };

/**
 * The runner's handle on the live report: `refresh()` after every
 * checkpoint. Announces the file:// address after the first write, and
 * never fails the run: a report that cannot be written is one warning.
 */
export class LiveReport {
  private announced = false;
  private warned = false;

  constructor(
    private readonly storeDir: string,
    private readonly workspace: string,
    private readonly experiment: string,
    private readonly onEvent: (e: LiveReportEvent) => void = () => {},
    private readonly opts: LiveReportHandleOptions = {},
  ) {}

  async refresh(): Promise<void> {
    try {
      const file = path.resolve(this.workspace, this.opts.file ?? LIVE_REPORT_FILE);
      const url = this.opts.yieldToOthers && (await writtenByOthers(file))
        ? pathToFileURL(file).href
        : (await writeLiveReport(this.storeDir, this.workspace, { ...this.opts, experiment: this.experiment })).url;
      if (!this.announced || this.opts.announceEach) {
        this.announced = true;
        this.onEvent({ type: 'info', message: url });
      }
    } catch (err) {
      if (!this.warned) {
        this.warned = true;
        this.onEvent({ type: 'warning', message: `cannot write the live report: ${(err as Error).message}` });
      }
    }
  }
}
