import type { BackendFactory } from './harness.js';
import { putTests } from './put-test.js';
import { getTests } from './get-test.js';
import { hasStatTests } from './has-stat-test.js';
import { listTests } from './list-test.js';
import { refsTests } from './refs-test.js';
import { deleteTests } from './delete-test.js';

export type { BackendFactory, BackendHarness } from './harness.js';

/**
 * Registers the whole ObjectBackend compliance suite (see backend.ts) as
 * node:test tests named after `name`: call it from a backend's *.test.ts
 * with a factory that makes a fresh, empty backend per test.
 */
export function backendCompliance(name: string, factory: BackendFactory): void {
  putTests(name, factory);
  getTests(name, factory);
  hasStatTests(name, factory);
  listTests(name, factory);
  refsTests(name, factory);
  deleteTests(name, factory);
}
