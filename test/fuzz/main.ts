// `npm run fuzz [target...]`: a longer run than npm test's.
// CAIRN_FUZZ_ITERATIONS (default 5000 per target, 500 for tar) and
// CAIRN_FUZZ_SEED (default fixed) pick the inputs; crashing inputs are kept
// in test/fuzz/corpus/<target>/ for the short run to replay from then on.
import { describeFinding, fuzzTarget, optionsFromEnv } from './fuzz.js';
import { TARGETS } from './targets.js';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !TARGETS.some((t) => t.name === w));
if (unknown.length) {
  console.error(`fuzz: unknown target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  process.exit(2);
}
let failed = 0;
for (const t of TARGETS.filter((x) => wanted.length === 0 || wanted.includes(x.name))) {
  const opts = optionsFromEnv(t.name === 'tar' ? 500 : 5000);
  const t0 = Date.now();
  const { runs, findings } = await fuzzTarget(t.name, opts);
  console.log(`${t.name}: ${runs} inputs (seed ${opts.seed}) in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${findings.length} finding(s)`);
  for (const f of findings) console.log(`  ${describeFinding(f)}`);
  failed += findings.length;
}
process.exitCode = failed ? 1 : 0;
