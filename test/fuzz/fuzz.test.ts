// A short fuzz run of every target, part of `npm test`: the kept corpus
// (seeds and every crashing input found so far) replayed, then a bounded
// number of fresh mutations. `npm run fuzz` runs longer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeFinding, fuzzTarget, optionsFromEnv } from './fuzz.js';
import { TARGETS } from './targets.js';

// Imports open a real store per input, hence fewer of them.
const SHORT: Record<string, number> = { tar: 200 };
const DEFAULT_SHORT = 1000;

describe('fuzz (short run)', () => {
  for (const t of TARGETS) {
    it(`${t.name}: every input decodes or is refused with a CairnError`, async () => {
      const opts = optionsFromEnv(SHORT[t.name] ?? DEFAULT_SHORT);
      const { runs, findings } = await fuzzTarget(t.name, opts);
      assert.ok(runs > opts.iterations, 'the corpus was replayed');
      assert.deepEqual(findings.map(describeFinding), [], `seed ${opts.seed}: rerun with CAIRN_FUZZ_SEED=${opts.seed}`);
    });
  }
});
