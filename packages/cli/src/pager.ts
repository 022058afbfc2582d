import { spawn } from 'node:child_process';

/**
 * Prints `text`, through a pager when stdout is a terminal and the text is
 * taller than it (as git does); `less -FRSX` quits at once for short text
 * and keeps colors. Falls back to plain output when no pager starts.
 */
export async function printPaged(text: string, enabled: boolean): Promise<void> {
  const rows = process.stdout.rows ?? 0;
  const lines = text.split('\n').length;
  if (!enabled || !process.stdout.isTTY || rows === 0 || lines < rows) {
    process.stdout.write(text);
    return;
  }
  const [cmd, ...args] = (process.env.CAIRN_PAGER ?? process.env.PAGER ?? 'less -FRSX').split(/\s+/).filter(Boolean);
  await new Promise<void>((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', () => {
      process.stdout.write(text);
      resolve();
    });
    child.on('close', () => resolve());
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
}
