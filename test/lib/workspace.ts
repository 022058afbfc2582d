/**
 * A small, fast, real checkpoint workspace for the black-box `exp` tests:
 * cairn.yaml, params.yaml (with comments, to check -S keeps the layout)
 * and train.py, a standard-library Python script that uses cairn's
 * `make_checkpoint` the way a training loop does.
 *
 * train.py, per epoch: optionally sleeps (param `sleep`), writes model.bin
 * (MODEL_BYTES bytes: a header holding the step and lr, then bytes derived
 * from both), writes metrics.json (step/loss/acc), then signals a
 * checkpoint. On start it loads model.bin when present and continues from
 * the step stored in it + 1, which must equal CAIRN_STEP (exit 3 if not).
 * Every start appends one JSON line to started.jsonl (what it loaded).
 *
 * Test-only knobs come from the environment so they do not change params:
 * - TRAIN_FAIL_AFTER=K: exit 1 after K checkpoints of this run;
 * - TRAIN_REMOVE_MODEL_AT=E: at epoch E of this run, delete model.bin
 *   instead of writing it, then signal;
 * - TRAIN_SIGNAL=dvc: signal the way dvc.api.make_checkpoint() of DVC 2.x
 *   does (empty $DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT, root found by looking
 *   for .dvc/, poll every 0.1 s until gone);
 * - TRAIN_FINAL_WRITE=1: rewrite model.bin after the loop without signalling.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { cairn, tempDir, type RunResult } from './cli.js';

export const MODEL_BYTES = 1024 * 1024;
export const MAGIC = 'CAIRNTST';

/** The folder holding the `cairn` bin link, for PATH in shell stages. */
export const CAIRN_BIN_DIR = fileURLToPath(new URL('../../../node_modules/.bin', import.meta.url));

export const TRAIN_PY = String.raw`"""Training script of cairn's black-box tests (standard library only)."""
import hashlib
import json
import os
import struct
import sys
import time

from cairn import make_checkpoint

MODEL = "model.bin"
MAGIC = b"CAIRNTST"
MODEL_BYTES = ${MODEL_BYTES}


def load_params():
    params = {}
    with open("params.yaml", encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if ":" in line:
                key, value = (part.strip() for part in line.split(":", 1))
                if value:
                    params[key] = float(value)
    return params


def model_bytes(step, lr):
    head = MAGIC + struct.pack("<qd", step, lr)
    body = hashlib.shake_256(("%d:%r" % (step, lr)).encode()).digest(MODEL_BYTES - len(head))
    return head + body


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def dvc_make_checkpoint():
    # What dvc.api.make_checkpoint() of DVC 2.x does: the root is found by
    # looking for .dvc/ (evaluated even when DVC_ROOT is set), the signal
    # file is created empty and then polled every 0.1 s until it is gone.
    if os.getenv("DVC_CHECKPOINT") is None:
        return
    here = os.path.realpath(os.curdir)
    while not os.path.isdir(os.path.join(here, ".dvc")):
        parent = os.path.dirname(here)
        if parent == here:
            raise RuntimeError("not a DVC repository (no .dvc/ found)")
        here = parent
    root = os.getenv("DVC_ROOT", here)
    signal_file = os.path.join(root, ".dvc", "tmp", "DVC_CHECKPOINT")
    with open(signal_file, "w", encoding="utf-8") as fobj:
        fobj.write("")
        fobj.flush()
        os.fsync(fobj.fileno())
    while os.path.exists(signal_file):
        time.sleep(0.1)


def signal():
    if os.environ.get("TRAIN_SIGNAL") == "dvc":
        dvc_make_checkpoint()
    else:
        make_checkpoint()


def main():
    p = load_params()
    lr, epochs, pause = p["lr"], int(p["epochs"]), p.get("sleep", 0.0)
    env_step = int(os.environ["CAIRN_STEP"])
    fail_after = int(os.environ.get("TRAIN_FAIL_AFTER", "-1"))
    remove_at = int(os.environ.get("TRAIN_REMOVE_MODEL_AT", "-1"))
    start = 0
    info = {
        "cairn_step": env_step,
        "resume": os.environ.get("CAIRN_RESUME") == "1",
        "dvclive_resume": os.environ.get("DVCLIVE_RESUME") == "1",
        "exp": os.environ.get("CAIRN_EXP_NAME"),
        "loaded_step": None,
        "loaded_sha256": None,
    }
    if os.path.exists(MODEL):
        with open(MODEL, "rb") as f:
            data = f.read()
        if data[:8] != MAGIC:
            print("train.py: model.bin is not a model", file=sys.stderr)
            sys.exit(3)
        loaded_step, _ = struct.unpack("<qd", data[8:24])
        info["loaded_step"] = loaded_step
        info["loaded_sha256"] = hashlib.sha256(data).hexdigest()
        start = loaded_step + 1
        print("loaded model.bin at step %d" % loaded_step, flush=True)
    with open("started.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(info) + "\n")
    if start != env_step:
        print("train.py: model.bin continues at step %d but CAIRN_STEP is %d" % (start, env_step), file=sys.stderr)
        sys.exit(3)
    for epoch in range(epochs):
        step = start + epoch
        if pause:
            time.sleep(pause)
        if epoch == remove_at:
            if os.path.exists(MODEL):
                os.remove(MODEL)
        else:
            write_atomic(MODEL, model_bytes(step, lr))
        loss = round(1.0 / (1.0 + lr * (step + 1)), 6)
        acc = round(1.0 - loss / 2, 6)
        write_atomic("metrics.json", json.dumps({"step": step, "loss": loss, "acc": acc}).encode())
        print("epoch %d: loss %.4f acc %.4f" % (step, loss, acc), flush=True)
        try:
            signal()
        except RuntimeError as e:
            print("train.py: %s" % e, file=sys.stderr)
            sys.exit(1)
        if epoch + 1 == fail_after:
            print("train.py: failing on purpose after %d checkpoints" % fail_after, file=sys.stderr)
            sys.exit(1)
    if os.environ.get("TRAIN_FINAL_WRITE") == "1":
        write_atomic(MODEL, model_bytes(start + epochs, lr))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
`;

export const CAIRN_YAML = `stages:
  train:
    cmd: python3 train.py
    deps:
      - train.py
    params:
      - lr
      - epochs
      - sleep
    outs:
      - model.bin:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
`;

export interface WorkspaceOptions {
  lr?: number;
  epochs?: number;
  /** Seconds slept at the start of every epoch. */
  sleep?: number;
  /** Run `cairn init` (default true). */
  init?: boolean;
}

export function paramsYaml(o: WorkspaceOptions = {}): string {
  return [
    '# Params of the cairn test training run.',
    `lr: ${o.lr ?? 0.1}  # learning rate`,
    `epochs: ${o.epochs ?? 3}`,
    '',
    '# seconds slept per epoch',
    `sleep: ${o.sleep ?? 0}`,
    '',
  ].join('\n');
}

/** Writes cairn.yaml, params.yaml and train.py into `dir`. */
export async function writeWorkspace(dir: string, o: WorkspaceOptions = {}): Promise<void> {
  await writeFile(join(dir, 'cairn.yaml'), CAIRN_YAML);
  await writeFile(join(dir, 'params.yaml'), paramsYaml(o));
  await writeFile(join(dir, 'train.py'), TRAIN_PY);
}

/** A fresh temp workspace with an initialised store. */
export async function makeWorkspace(o: WorkspaceOptions = {}): Promise<string> {
  const ws = await tempDir('cairn-exp-');
  await writeWorkspace(ws, o);
  if (o.init ?? true) {
    const r = await cairn(['init'], { cwd: ws });
    assert.equal(r.code, 0, r.stderr);
  }
  return ws;
}

// ---- exp show --json ----

export interface ShowCheckpoint {
  id: string;
  step: number;
  created: string;
  parent: string | null;
  metrics: Record<string, unknown>;
  params: Record<string, unknown>;
  outs: Record<string, { size: number; id: string }>;
}

export interface ShowExperiment {
  name: string;
  baseline: string;
  tip: string;
  parent: string | null;
  checkpoints: ShowCheckpoint[];
}

export interface ShowJson {
  workspace: { params: Record<string, unknown>; metrics: Record<string, unknown> };
  experiments: ShowExperiment[];
}

export async function showJson(ws: string, env?: Record<string, string | undefined>): Promise<ShowJson> {
  const r = await cairn(['exp', 'show', '--json'], { cwd: ws, env });
  assert.equal(r.code, 0, `exp show --json failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ShowJson;
}

export function findExp(show: ShowJson, name: string): ShowExperiment {
  const e = show.experiments.find((x) => x.name === name);
  assert.ok(e, `experiment ${name} not in exp show: ${show.experiments.map((x) => x.name).join(', ')}`);
  return e;
}

// ---- exp run output ----

/** The 7-hex IDs of `Checkpoint experiment iteration '<id>'.` lines, in order. */
export function checkpointLines(stdout: string): string[] {
  return [...stdout.matchAll(/^Checkpoint experiment iteration '([0-9a-f]{7})'\.$/gm)].map((m) => m[1]);
}

/** The experiment name a run printed (Running / Resuming / final line). */
export function runExpName(stdout: string): string {
  const m = /^Experiment '([^']+)': \d+ new checkpoint/m.exec(stdout) ?? /experiment '([^']+)'/.exec(stdout);
  assert.ok(m, `no experiment name in:\n${stdout}`);
  return m[1];
}

export function assertOk(r: RunResult, what = 'cairn'): void {
  assert.equal(r.code, 0, `${what} exited ${r.code} (signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/** No Node stack trace lines. */
export function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at .+[(:]/m, `stack trace in stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, /node:internal|\.js:\d+:\d+/, `stack trace in stderr:\n${stderr}`);
}

// ---- files ----

export interface StartInfo {
  cairn_step: number;
  resume: boolean;
  dvclive_resume: boolean;
  exp: string;
  loaded_step: number | null;
  loaded_sha256: string | null;
}

/** One entry per start of train.py, oldest first. */
export async function starts(ws: string): Promise<StartInfo[]> {
  const text = await readFile(join(ws, 'started.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as StartInfo);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The step stored in a model.bin header. */
export function modelStep(data: Buffer): number {
  assert.equal(data.subarray(0, 8).toString('latin1'), MAGIC, 'not a test model');
  return Number(data.readBigInt64LE(8));
}

export function modelLr(data: Buffer): number {
  return data.readDoubleLE(16);
}

/** The content of a store object, fetched with `cairn store get`. */
export async function storeGet(ws: string, id: string): Promise<Buffer> {
  const dest = join(await tempDir('cairn-get-'), 'out');
  const r = await cairn(['store', 'get', id, dest], { cwd: ws });
  assertOk(r, `store get ${id}`);
  return readFile(dest);
}

/**
 * Parses a YAML file with an independent parser (PyYAML) when available,
 * so "cairn.lock still parses" is not checked by cairn's own code.
 * Returns null when PyYAML is not installed.
 */
export async function parseYamlFile(file: string): Promise<unknown> {
  const script = 'import json,sys\ntry:\n import yaml\nexcept ImportError:\n print("null"); sys.exit(0)\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))\n';
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${file} does not parse as YAML: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

// ---- assertions on exp show data ----

export const HEX64 = /^[0-9a-f]{64}$/;

/** What train.py writes to metrics.json at `step`. */
export function expectedMetrics(step: number, lr: number): { step: number; loss: number; acc: number } {
  const loss = 1 / (1 + lr * (step + 1));
  return { step, loss, acc: 1 - loss / 2 };
}

export function assertMetrics(actual: Record<string, unknown>, step: number, lr: number, where: string): void {
  const want = expectedMetrics(step, lr);
  assert.deepEqual(Object.keys(actual).sort(), ['acc', 'loss', 'step'], `${where}: metric names`);
  assert.equal(actual.step, step, `${where}: metrics.step`);
  for (const k of ['loss', 'acc'] as const) {
    assert.equal(typeof actual[k], 'number', `${where}: ${k} is a number`);
    assert.ok(Math.abs((actual[k] as number) - want[k]) < 1e-5, `${where}: ${k} ${actual[k]} != ${want[k]}`);
  }
}

/** Each checkpoint's parent is the next (older) one; the oldest's is `first`. */
export function assertChain(e: ShowExperiment, first: string | null): void {
  const c = e.checkpoints;
  for (let i = 0; i < c.length - 1; i++) assert.equal(c[i].parent, c[i + 1].id, `${e.name}: parent of step ${c[i].step}`);
  assert.equal(c[c.length - 1].parent, first, `${e.name}: parent of its first checkpoint`);
  assert.equal(e.tip, c[0].id, `${e.name}: tip is the newest checkpoint`);
}

export const steps = (e: ShowExperiment) => e.checkpoints.map((c) => c.step);
export const byStep = (e: ShowExperiment, step: number): ShowCheckpoint => {
  const c = e.checkpoints.find((x) => x.step === step);
  assert.ok(c, `${e.name} has no checkpoint at step ${step}`);
  return c;
};
