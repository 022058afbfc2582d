"""Signal-to-resume probe, run by bench/resume.mjs under a real `cairn exp run`.

Writes an out of BENCH_SIZE bytes, then BENCH_CHECKPOINTS times: rewrites
BENCH_CHANGE of it (all of it at 1.0; at 0.1 a contiguous tenth, a
different one each time, as a frozen-backbone step would) without fsync,
as torch.save does (after BENCH_STEP_S seconds of pretend training, default
0), and times make_checkpoint(): from just before the
signal file is created until the helper sees cairn delete it. The
latencies (ms) go to BENCH_RESULT as JSON.
"""
import json
import os
import time

from cairn import make_checkpoint  # on PYTHONPATH inside `cairn exp run`

SIZE = int(os.environ["BENCH_SIZE"])
N = int(os.environ["BENCH_CHECKPOINTS"])
CHANGE = float(os.environ["BENCH_CHANGE"])
RESULT = os.environ["BENCH_RESULT"]
# Seconds of "training" before each rewrite: lets a background push (exp run --push) overlap training as it would.
STEP_S = float(os.environ.get("BENCH_STEP_S", "0"))
PATH = "model.bin"
BLOCK = 8 << 20


def fill(f, offset, length):
    f.seek(offset)
    left = length
    while left > 0:
        n = min(BLOCK, left)
        f.write(os.urandom(n))
        left -= n


with open(PATH, "wb") as f:
    fill(f, 0, SIZE)

region = SIZE if CHANGE >= 1 else max(1, int(SIZE * CHANGE))
slots = max(1, SIZE // region)
latencies = []
for i in range(N):
    if i > 0:
        if STEP_S > 0:
            time.sleep(STEP_S)
        with open(PATH, "r+b") as f:
            fill(f, ((i - 1) % slots) * region, region)
    t0 = time.perf_counter()
    make_checkpoint(metrics={"iteration": i})
    latencies.append((time.perf_counter() - t0) * 1000.0)

with open(RESULT, "w") as f:
    json.dump({"latencies_ms": latencies, "size": SIZE, "change": CHANGE}, f)
