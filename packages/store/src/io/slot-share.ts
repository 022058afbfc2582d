import { SLOT_SIZE, type Arena } from './arena.js';

interface Shared {
  slot: number;
  /** Bytes of the slot handed out so far. */
  used: number;
  /** Ranges handed out and not yet released. */
  refs: number;
}

/**
 * Ranges of arena slots for objects put one after another, several to a
 * slot: an import's objects (about 1 MiB each) would otherwise hold a 4 MiB
 * slot apiece while they wait in the pack writer's queue. Ranges are handed
 * out in call order, each at the offset within a 4 KiB block asked for, and
 * a slot goes back to the arena once every range of it is released.
 */
export class SlotShare {
  private cur: Shared | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly arena: Arena) {}

  /** `len` bytes (at most a slot's) whose address is `phase` modulo 4096; release() gives them up. */
  take(len: number, phase: number): Promise<{ addr: number; release: () => void }> {
    const at = (used: number) => used + ((((phase - (used % 4096)) % 4096) + 4096) % 4096);
    const p = this.chain.then(async () => {
      let s = this.cur;
      if (!s || at(s.used) + len > SLOT_SIZE) {
        // The full slot goes back when its last range is released.
        s = this.cur = { slot: await this.arena.take(), used: 0, refs: 0 };
      }
      const off = at(s.used);
      s.used = off + len;
      s.refs++;
      const shared = s;
      let held = true;
      return {
        addr: this.arena.addr(s.slot, off),
        release: () => {
          if (!held) return;
          held = false;
          if (--shared.refs > 0) return;
          this.arena.give(shared.slot);
          if (this.cur === shared) this.cur = undefined;
        },
      };
    });
    this.chain = p.catch(() => {});
    return p;
  }
}
