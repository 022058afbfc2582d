"""A small real training run for the cairn demo: pure Python, no downloads.

A frozen random-feature backbone and a softmax head are trained on
synthetic 4-class data. The model is written as safetensors, one epoch per
checkpoint; a later `cairn exp run` resumes from the saved weights.
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


def load_params():
    params = {"lr": 2.0, "epochs": 5, "seed": 7, "features": 128}
    with open("params.yaml") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if ":" in line:
                key, value = (part.strip() for part in line.split(":", 1))
                if key in params:
                    params[key] = type(params[key])(float(value)) if value else params[key]
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
        out[name] = list(values)
    return out


def make_data(rng, n, dim, classes):
    centers = [[rng.gauss(0, 1.5) for _ in range(dim)] for _ in range(classes)]
    xs, ys = [], []
    for i in range(n):
        y = i % classes
        xs.append([c + rng.gauss(0, 2.4) for c in centers[y]])
        ys.append(y)
    return xs, ys


def main():
    p = load_params()
    dim, classes, feats = 32, 4, int(p["features"])
    rng = random.Random(int(p["seed"]))
    xs, ys = make_data(rng, 400, dim, classes)
    if os.path.exists(MODEL):
        # A checkpoint out is left in place between runs: continue from it.
        t = load_safetensors(MODEL)
        backbone, head = t["backbone.weight"], t["head.weight"]
        print("loaded %s" % MODEL)
    else:
        backbone = [rng.gauss(0, 1 / math.sqrt(dim)) for _ in range(dim * feats)]
        head = [0.0] * (feats * classes)
    # The backbone is frozen: features are computed once.
    phi = []
    for x in xs:
        row = []
        for j in range(feats):
            s = 0.0
            for i in range(dim):
                s += x[i] * backbone[i * feats + j]
            row.append(s / math.sqrt(feats) if s > 0 else 0.0)
        phi.append(row)
    step = int(os.environ.get("CAIRN_STEP", "0"))
    for epoch in range(int(p["epochs"])):
        loss, correct = 0.0, 0
        grad = [0.0] * (feats * classes)
        for f, y in zip(phi, ys):
            logits = [sum(f[j] * head[j * classes + c] for j in range(feats)) for c in range(classes)]
            m = max(logits)
            exps = [math.exp(v - m) for v in logits]
            z = sum(exps)
            probs = [e / z for e in exps]
            loss -= math.log(max(probs[y], 1e-12))
            correct += int(max(range(classes), key=lambda c: probs[c]) == y)
            for c in range(classes):
                g = probs[c] - (1.0 if c == y else 0.0)
                if g:
                    for j in range(feats):
                        grad[j * classes + c] += g * f[j]
        n = len(phi)
        head = [w - p["lr"] * g / n for w, g in zip(head, grad)]
        metrics = {"step": step + epoch, "loss": round(loss / n, 4), "acc": round(correct / n, 4)}
        save_safetensors(MODEL, {"backbone.weight": ([dim, feats], backbone), "head.weight": ([feats, classes], head)})
        with open("metrics.json", "w") as f:
            json.dump(metrics, f)
        print("epoch %d: loss %.4f acc %.4f" % (step + epoch, metrics["loss"], metrics["acc"]), flush=True)
        make_checkpoint()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl+C in `cairn exp run`: every checkpoint so far is kept
        raise SystemExit(130)
