import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ReportAssets } from './html.js';

let cached: ReportAssets | undefined;

/**
 * uPlot's minified script and style, read from node_modules (the runner's
 * `uplot` dependency) when a report is made, so the page needs no network.
 */
export function loadReportAssets(): ReportAssets {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('uplot/package.json'));
    cached = {
      js: readFileSync(path.join(dir, 'dist', 'uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(path.join(dir, 'dist', 'uPlot.min.css'), 'utf8'),
    };
  }
  return cached;
}

/**
 * Writes `html` to `file` whole or not at all (temp file beside it, then
 * rename), so a browser reloading a live report never reads half a page.
 * Creates the parent folder.
 */
export async function writeReportFile(file: string, html: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, html);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
