#!/usr/bin/env node
// Committed entry point: npm links the bin at install time, before the
// `prepare` build has produced dist/, so the link target must already exist.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('cairn: error: the CLI is not built (run npm run build in the cairn checkout)\n');
  process.exit(1);
}
const { run } = await import(main.href);
await run(process.argv.slice(2));
