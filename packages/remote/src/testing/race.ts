import { randomBytes } from 'node:crypto';
import { isCairnError } from '@cairn/store';
import type { BlobStore } from '../blob-store.js';

/** How many times each counter racer adds 1. */
export const INCREMENTS = 4;

/** The body of a create-only racer or a counter step; the nonce makes every write's bytes differ, as a ref's do. */
/** Kept apart from the test files so that racing child processes can import it without registering tests. */
export async function raceStep(store: BlobStore, op: 'create' | 'inc', key: string, who: number): Promise<string> {
  if (op === 'create') {
    try {
      await store.put(key, Buffer.from(`writer ${who} ${randomBytes(8).toString('hex')}`), { ifNoneMatch: true });
      return 'won';
    } catch (err) {
      if (isCairnError(err, 'CONFLICT')) return 'lost';
      throw err;
    }
  }
  for (let done = 0, tries = 0; done < INCREMENTS; tries++) {
    if (tries > 500) throw new Error('too many retries');
    let value = 0;
    let etag: string | undefined;
    try {
      const got = await store.get(key);
      value = Number(got.data.toString().split(' ')[0]);
      etag = got.etag;
    } catch (err) {
      if (!isCairnError(err, 'NOT_FOUND')) throw err;
    }
    try {
      const body = Buffer.from(`${value + 1} ${randomBytes(8).toString('hex')}`);
      await store.put(key, body, etag === undefined ? { ifNoneMatch: true } : { ifMatch: etag });
      done++;
    } catch (err) {
      if (!isCairnError(err, 'CONFLICT')) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10));
    }
  }
  return 'done';
}

