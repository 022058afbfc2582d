import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import type { GlobalArgs } from './context.js';

const require = createRequire(import.meta.url);

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Status lines go to stderr so stdout stays clean for data; -q silences them. */
export function info(args: GlobalArgs, line: string): void {
  if (!args.quiet) process.stderr.write(`${line}\n`);
}

/** One warning line per damaged ref file, so a listing can go on with the rest. */
export function warnDamagedRef(d: { path: string; reason: string }): void {
  process.stderr.write(`cairn: warning: ref file ${d.path} is damaged (${d.reason}); skipped it (cairn fsck --repair moves it into quarantine)\n`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/**
 * A byte progress bar on stderr, shown only on a TTY and only once work has
 * run for about a second, so quick commands and scripts stay quiet.
 */
export function progressBar(args: GlobalArgs, label: string, total: number): { update(n: number): void; stop(): void } {
  if (args.quiet || !process.stderr.isTTY || total <= 0) return { update() {}, stop() {} };
  const started = Date.now();
  let bar: SingleBar | undefined;
  return {
    update(n: number) {
      if (!bar && Date.now() - started > 1000) {
        // Loaded only when a bar is drawn (~12 ms that a quick or piped export/import never needs).
        const cliProgress = require('cli-progress') as typeof import('cli-progress');
        bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: `${label} [{bar}] {percentage}% {done}/{all}`, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { done: formatBytes(0), all: formatBytes(total) });
      }
      bar?.update(Math.min(n, total), { done: formatBytes(n), all: formatBytes(total) });
    },
    stop() {
      bar?.stop();
    },
  };
}
