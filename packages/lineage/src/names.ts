import { randomBytes } from 'node:crypto';
import { CairnError } from '@cairn/store';

/** Every experiment is the ref `exp/<name>`; nothing else lives under `exp/`. */
export const EXP_REF_PREFIX = 'exp/';

// One path segment of a ref, so a name can never reach outside refs/exp/.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isValidName(name: string): boolean {
  // `.tmp-` is what the store's atomic ref writes use for their temp files,
  // and a trailing `.lock` is what users of git expect to be reserved.
  return NAME.test(name) && !name.includes('.tmp-') && !name.endsWith('.lock');
}

export function checkName(name: string): void {
  if (!isValidName(name)) {
    throw new CairnError('BAD_INPUT', `invalid experiment name '${name}'`, {
      fields: { name },
      hint: "use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
    });
  }
}

export function expRef(name: string): string {
  return EXP_REF_PREFIX + name;
}

/** `exp-` and 5 random hex digits, as DVC names experiments. */
export function randomName(): string {
  return 'exp-' + randomBytes(3).toString('hex').slice(0, 5);
}
