// Checkpoint sequences. Each scenario says, for every checkpoint after the
// first, which tensors a training step rewrote. Checkpoint 0 is always a
// freshly written file (every byte new).
//
//   full   – full fine-tune: every tensor changes at every checkpoint.
//   frozen – frozen backbone: the tensors nearest the output (lm_head, final
//            norm, then the last layer's tensors walking backwards) totalling
//            ~10% of the tensor bytes change; the rest never does.
//   lora   – LoRA: base weights fixed; only the lora_A/lora_B adapters
//            (~1% of the bytes) change.

import { buildModel } from './gen-safetensors.mjs';

export const SCENARIOS = {
  full: {
    describe: 'full fine-tune: every tensor changes every checkpoint',
    lora: false,
    changing: (model) => model.tensors,
  },
  frozen: {
    describe: 'frozen backbone: head + last layers (~10% of bytes) change',
    lora: false,
    changing: (model) => {
      const goal = 0.1 * model.tensorBytes;
      const picked = [];
      let sum = 0;
      // Walk from the output backwards; stop where adding the next tensor
      // would land farther from 10% than stopping does.
      for (const t of [...model.tensors].sort((a, b) => b.order - a.order)) {
        if (sum > 0 && sum + t.bytes - goal > goal - sum) break;
        picked.push(t);
        sum += t.bytes;
        if (sum >= goal) break;
      }
      return picked;
    },
  },
  lora: {
    describe: 'LoRA: base fixed, lora_A/lora_B adapters (~1% of bytes) change',
    lora: true,
    changing: (model) => model.tensors.filter((t) => t.role === 'lora'),
  },
};

/**
 * The plan for one scenario: the model and, per checkpoint, the tensors to
 * rewrite and the exact changed-tensor bytes vs the previous checkpoint
 * (checkpoint 0: the whole file, header included, since nothing precedes it).
 */
export function planScenario(name, sizeBytes, checkpoints) {
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown scenario ${name} (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const model = buildModel(sizeBytes, { lora: sc.lora });
  const changing = sc.changing(model);
  const changingBytes = changing.reduce((a, t) => a + t.bytes, 0);
  const steps = [];
  for (let k = 0; k < checkpoints; k++) {
    if (k === 0) steps.push({ k, rewrite: null, changedBytes: model.fileBytes, fullyChanged: true });
    else steps.push({ k, rewrite: changing, changedBytes: changingBytes, fullyChanged: changingBytes === model.tensorBytes });
  }
  return {
    name,
    describe: sc.describe,
    model,
    changingTensors: changing.length,
    changingBytes,
    changingFrac: changingBytes / model.tensorBytes,
    steps,
  };
}
