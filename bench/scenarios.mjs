// Checkpoint sequences. A scenario is a checkpoint (one file, or a folder
// of files) and, for every checkpoint after the first, the tensors a
// training step rewrote. Checkpoint 0 is always freshly written (every byte
// new).
//
//   full     – full fine-tune: every tensor changes at every checkpoint.
//   frozen   – frozen backbone: the tensors nearest the output (lm_head, final
//              norm, then the last layer's tensors walking backwards) totalling
//              ~10% of the tensor bytes change; the rest never does.
//   lora     – LoRA: base weights fixed; only the lora_A/lora_B adapters
//              (~1% of the bytes) change.
//   optim    – frozen backbone saved Hugging Face Trainer style: a folder with
//              model.safetensors (as frozen) and optimizer.pt, the AdamW state
//              (step, exp_avg, exp_avg_sq for every trainable tensor) in
//              torch.save layout; all of the optimizer state changes.
//   torchzip – frozen backbone, the state_dict saved with torch.save
//              (PyTorch zip layout, gen-torchzip.mjs) as model.pt.

import { join } from 'node:path';
import { buildModel, writeModel, rewriteTensors, checkSafetensors } from './gen-safetensors.mjs';
import { buildTorchZip, writeTorchZip, rewriteTorchZip, checkTorchZip, tensor, tensorSpec, tuple, ordered } from './gen-torchzip.mjs';

/** The frozen-backbone selection: walk from the output backwards; stop closest to 10% of tensor bytes. */
function frozenSelection(model) {
  const goal = 0.1 * model.tensorBytes;
  const picked = [];
  let sum = 0;
  for (const t of [...model.tensors].sort((a, b) => b.order - a.order)) {
    if (sum > 0 && sum + t.bytes - goal > goal - sum) break;
    picked.push(t);
    sum += t.bytes;
    if (sum >= goal) break;
  }
  return picked;
}

/** A safetensors file in a checkpoint. */
function safetensorsFile(name, model, changing) {
  return {
    name,
    format: 'safetensors',
    bytes: model.fileBytes,
    tensorBytes: model.tensorBytes,
    tensors: model.tensors.length,
    changing,
    write: (path, o) => writeModel(path, model, { ...o, file: name }),
    rewrite: (path, o) => rewriteTensors(path, model, changing, { ...o, file: name }),
    check: (path) => checkSafetensors(path),
  };
}

/** A torch.save archive in a checkpoint. */
function torchzipFile(name, zip, changing) {
  return {
    name,
    format: 'torch.save zip',
    bytes: zip.fileBytes,
    tensorBytes: zip.tensorBytes,
    tensors: zip.tensors.length,
    changing,
    write: (path, o) => writeTorchZip(path, zip, o),
    rewrite: (path, o) => rewriteTorchZip(path, zip, changing, o),
    check: (path) => checkTorchZip(path, zip),
  };
}

/** A state_dict (OrderedDict name → tensor, model order) as torch.save pickles it. */
function stateDictZip(name, model) {
  return buildTorchZip(name, ordered([...model.tensors].sort((a, b) => a.order - b.order).map((t) => [t.name, tensor(t)])));
}

/** torch.optim.AdamW(...).state_dict() for the trainable tensors `params` (model order). */
function adamwZip(name, params) {
  const state = new Map();
  const opt = [];
  params.forEach((p, i) => {
    const step = tensorSpec(`state.${i}.step`, []);
    const avg = tensorSpec(`state.${i}.exp_avg`, p.shape);
    const sq = tensorSpec(`state.${i}.exp_avg_sq`, p.shape);
    opt.push(step, avg, sq);
    state.set(i, { step: tensor(step), exp_avg: tensor(avg), exp_avg_sq: tensor(sq) });
  });
  const group = {
    lr: 1e-4,
    betas: tuple(0.9, 0.999),
    eps: 1e-8,
    weight_decay: 0.01,
    amsgrad: false,
    foreach: null,
    maximize: false,
    capturable: false,
    differentiable: false,
    fused: null,
    params: params.map((_, i) => i),
  };
  return { zip: buildTorchZip(name, { state, param_groups: [group] }), tensors: opt };
}

export const SCENARIOS = {
  full: {
    short: 'every tensor changes',
    describe: 'full fine-tune: every tensor changes every checkpoint',
    files(size) {
      const m = buildModel(size);
      return { model: m, files: [safetensorsFile('model.safetensors', m, m.tensors)] };
    },
  },
  frozen: {
    short: '10% of tensors change',
    describe: 'frozen backbone: head + last layers (~10% of bytes) change',
    files(size) {
      const m = buildModel(size);
      return { model: m, files: [safetensorsFile('model.safetensors', m, frozenSelection(m))] };
    },
  },
  lora: {
    short: '1% (adapters) change',
    describe: 'LoRA: base fixed, lora_A/lora_B adapters (~1% of bytes) change',
    files(size) {
      const m = buildModel(size, { lora: true });
      return { model: m, files: [safetensorsFile('model.safetensors', m, m.tensors.filter((t) => t.role === 'lora'))] };
    },
  },
  optim: {
    short: 'frozen + AdamW state',
    describe: 'frozen backbone + AdamW state: folder of model.safetensors (~10% changes) and optimizer.pt (all changes)',
    files(size) {
      const m = buildModel(size);
      const trainable = frozenSelection(m).sort((a, b) => a.order - b.order);
      const { zip, tensors } = adamwZip('optimizer.pt', trainable);
      return {
        model: m,
        folder: true,
        files: [safetensorsFile('model.safetensors', m, trainable), torchzipFile('optimizer.pt', zip, tensors)],
      };
    },
  },
  torchzip: {
    short: 'frozen, torch.save zip',
    describe: 'frozen backbone saved with torch.save (PyTorch zip layout) as model.pt',
    files(size) {
      const m = buildModel(size);
      const zip = stateDictZip('model.pt', m);
      return { model: m, files: [torchzipFile('model.pt', zip, frozenSelection(m))] };
    },
  },
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS);

/**
 * The plan for one scenario: its files and, per checkpoint, the exact
 * changed-tensor bytes vs the previous checkpoint (checkpoint 0: every byte
 * of every file, since nothing precedes it). `target` is what every tool
 * is given: the one file, or the checkpoint folder when there are several.
 */
export function planScenario(name, sizeBytes, checkpoints) {
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown scenario ${name} (known: ${SCENARIO_NAMES.join(', ')})`);
  const { model, files, folder = false } = sc.files(sizeBytes);
  const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  const tensorBytes = files.reduce((a, f) => a + f.tensorBytes, 0);
  const changingBytes = files.reduce((a, f) => a + f.changing.reduce((s, t) => s + t.bytes, 0), 0);
  const changingTensors = files.reduce((a, f) => a + f.changing.length, 0);
  const steps = [];
  for (let k = 0; k < checkpoints; k++) {
    if (k === 0) steps.push({ k, changedBytes: totalBytes, fullyChanged: true });
    else steps.push({ k, changedBytes: changingBytes, fullyChanged: changingBytes === tensorBytes });
  }
  return {
    name,
    describe: sc.describe,
    short: sc.short,
    model,
    files,
    folder,
    totalBytes,
    tensorBytes,
    changingTensors,
    changingBytes,
    changingFrac: changingBytes / tensorBytes,
    steps,
  };
}

/**
 * Writes checkpoint k of `plan` into folder `dir` (k = 0: every file anew;
 * later: the changing tensors rewritten in place). Content is a function of
 * (seed, file, tensor, k). Returns the changed bytes.
 */
export function writeCheckpoint(plan, dir, k, { data = 'weights', seed = null } = {}) {
  let changed = 0;
  for (const f of plan.files) {
    const path = join(dir, f.name);
    if (k === 0) {
      changed += f.write(path, { data, seed, k });
      f.check(path);
    } else {
      // Every changing tensor gets the content of checkpoint k; unchanged ones keep what they had.
      changed += f.rewrite(path, { data, seed, k });
    }
  }
  return changed;
}
