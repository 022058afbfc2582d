// Runs one target over inputs [from, total) for fuzz.ts, in a process of
// its own, saying which input it starts before each, so that the parent
// knows which one hung or killed it.
import { mkdir } from 'node:fs/promises';
import { isCairnError } from '@cairn/store';
import { mutate } from './fuzz.js';
import { targetNamed, type TargetContext } from './targets.js';

interface Data {
  target: string;
  seed: number;
  from: number;
  total: number;
  corpus: Uint8Array[];
  corpusCount: number;
  work: string;
}

const d = await new Promise<Data>((resolve) => process.once('message', (m) => resolve(m as Data)));
const port = { postMessage: (m: unknown) => process.send!(m) };
const corpus = d.corpus.map((c) => Buffer.from(c));
const target = targetNamed(d.target);
const ctx: TargetContext = { work: d.work };

// Leaked promise rejections are the decoders' too: count them against the input that was running.
let current = d.from;
process.on('unhandledRejection', (err) => port.postMessage({ type: 'crash', index: current, message: `unhandled rejection: ${(err as Error)?.stack ?? err}` }));

try {
  await mkdir(d.work, { recursive: true });
  for (let i = d.from; i < d.total; i++) {
    current = i;
    port.postMessage({ type: 'start', index: i });
    const input = i < d.corpusCount ? corpus[i] : mutate(corpus, (d.seed + i - d.corpusCount) >>> 0);
    try {
      await target.run(input, ctx);
    } catch (err) {
      if (!isCairnError(err)) {
        const e = err as Error;
        port.postMessage({ type: 'crash', index: i, message: `${e?.name ?? typeof err}: ${e?.message ?? String(err)}\n${e?.stack?.split('\n').slice(1, 6).join('\n') ?? ''}` });
      }
    }
  }
  await target.close?.(ctx);
  port.postMessage({ type: 'done' });
} catch (err) {
  port.postMessage({ type: 'fatal', message: (err as Error)?.stack ?? String(err) });
}
process.disconnect();
