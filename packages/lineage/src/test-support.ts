// Shared by the *.test.ts files: real stores in temp folders, and checkpoint inputs whose outs exist in them.
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type CairnErrorCode, isCairnError } from '@cairn/store';
import type { CheckpointInput } from './experiments.js';
import type { DepEntry, OutEntry } from './records.js';

/** A fresh store; `fast` puts it on tmpfs when there is one, for tests that write thousands of records. */
export async function withStore<T>(fn: (store: Store, dir: string) => Promise<T>, opts: { fast?: boolean } = {}): Promise<T> {
  const base = opts.fast && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const work = await mkdtemp(join(base, 'cairn-lineage-'));
  const dir = join(work, 'store');
  await Store.init(dir);
  const store = await Store.open(dir);
  try {
    return await fn(store, dir);
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
}

export async function fileEntry(store: Store, content: string): Promise<DepEntry> {
  const data = Buffer.from(content);
  return { id: await store.putBuffer(data), size: data.length, kind: 'file' };
}

export async function outEntry(store: Store, content: string): Promise<OutEntry> {
  return { ...(await fileEntry(store, content)), checkpoint: true };
}

export async function makeInput(store: Store, over: Partial<CheckpointInput> & { model?: string } = {}): Promise<CheckpointInput> {
  const { model, ...rest } = over;
  return {
    stage: 'train',
    cmd: 'python train.py',
    outs: { 'model.pt': await outEntry(store, model ?? `model ${Math.random()}`) },
    deps: { 'train.py': await fileEntry(store, 'print("train")\n') },
    params: { 'params.yaml': { lr: 0.1, epochs: 10 } },
    metrics: { acc: 0.5 },
    ...rest,
  };
}

/** For assert.rejects: the error is a CairnError with this code (and a message matching `re`). */
export function cairnError(code: CairnErrorCode, re?: RegExp): (err: unknown) => boolean {
  return (err) => {
    if (!isCairnError(err, code)) throw new Error(`expected CairnError ${code}, got ${String((err as Error)?.stack ?? err)}`);
    if (re && !re.test(err.message)) throw new Error(`message '${err.message}' does not match ${re}`);
    return true;
  };
}
