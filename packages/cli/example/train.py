"""A small real training run for the cairn demo: pure Python, no downloads.

A bag-of-words text classifier: a frozen 2 MiB embedding table (the
"pretrained backbone") and a small trained head, on synthetic 4-topic
sentences. The model is written as safetensors, one checkpoint per epoch;
a later `cairn exp run` resumes from the saved weights. Only the head
changes between checkpoints, so cairn stores the backbone once.
"""
import json
import math
import os
import random
import struct
from array import array

try:
    from cairn import make_checkpoint
except ImportError:  # run outside `cairn exp run`: checkpoints are no-ops
    def make_checkpoint(metrics=None, step=None):
        pass

MODEL = "model.safetensors"
VOCAB, DIM, CLASSES = 8192, 64, 4


def load_params():
    params = {"lr": 10.0, "epochs": 5, "seed": 7}
    with open("params.yaml") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if ":" in line:
                key, value = (part.strip() for part in line.split(":", 1))
                if key in params and value:
                    params[key] = type(params[key])(float(value))
    return params


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, (shape, values) in tensors.items():
        data = array("f", values).tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, meta in header.items():
        begin, end = meta["data_offsets"]
        values = array("f")
        values.frombytes(body[begin:end])
        out[name] = values
    return out


def make_data(rng, n):
    topics = [rng.sample(range(VOCAB), 40) for _ in range(CLASSES)]
    data = []
    for i in range(n):
        y = i % CLASSES
        words = [rng.choice(topics[y]) if rng.random() < 0.3 else rng.randrange(VOCAB) for _ in range(20)]
        data.append((words, y))
    return data


def main():
    p = load_params()
    rng = random.Random(int(p["seed"]))
    data = make_data(rng, 400)
    if os.path.exists(MODEL):
        # A checkpoint out is left in place between runs: continue from it.
        t = load_safetensors(MODEL)
        embed, head = t["embed.weight"], list(t["head.weight"])
        print("loaded %s" % MODEL)
    else:
        emb_rng = random.Random(1234)  # the same "pretrained" table every time
        embed = array("f", (emb_rng.gauss(0, 1) for _ in range(VOCAB * DIM)))
        head = [0.0] * (DIM * CLASSES)
    # The backbone is frozen: sentence features are computed once.
    feats = []
    for words, _ in data:
        v = [0.0] * DIM
        for w in words:
            base = w * DIM
            for j in range(DIM):
                v[j] += embed[base + j]
        feats.append([x / len(words) for x in v])
    step = int(os.environ.get("CAIRN_STEP", "0"))
    for epoch in range(int(p["epochs"])):
        loss, correct = 0.0, 0
        grad = [0.0] * (DIM * CLASSES)
        for f, (_, y) in zip(feats, data):
            logits = [sum(f[j] * head[j * CLASSES + c] for j in range(DIM)) for c in range(CLASSES)]
            m = max(logits)
            exps = [math.exp(v - m) for v in logits]
            z = sum(exps)
            probs = [e / z for e in exps]
            loss -= math.log(max(probs[y], 1e-12))
            correct += int(max(range(CLASSES), key=lambda c: probs[c]) == y)
            for c in range(CLASSES):
                g = probs[c] - (1.0 if c == y else 0.0)
                for j in range(DIM):
                    grad[j * CLASSES + c] += g * f[j]
        n = len(feats)
        head = [w - p["lr"] * g / n for w, g in zip(head, grad)]
        metrics = {"step": step + epoch, "loss": round(loss / n, 4), "acc": round(correct / n, 4)}
        save_safetensors(MODEL, {"embed.weight": ([VOCAB, DIM], embed), "head.weight": ([DIM, CLASSES], head)})
        with open("metrics.json", "w") as f:
            json.dump(metrics, f)
        print("epoch %d: loss %.4f acc %.4f" % (step + epoch, metrics["loss"], metrics["acc"]), flush=True)
        make_checkpoint()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl+C in `cairn exp run`: every checkpoint so far is kept
        raise SystemExit(130)
