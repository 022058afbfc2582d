/**
 * The arena: one shared WebAssembly.Memory per process, cut into slots of
 * a little over 4 MiB (the largest chunk, plus room to start it at any
 * offset within a 4 KiB block). Big files move through it without copies:
 * the read pool's threads read chunks into slots and hash them there
 * (SHA-256 through node:crypto, XXH64 with the in-place module of
 * xxh64-wasm.ts), and direct writes (direct.ts) go to disk straight from a
 * slot. Its memory starts on a page boundary, as O_DIRECT requires.
 *
 * Slots are taken and given back, and reused; once touched their pages stay
 * resident, so the arena's size follows the most slots in use at once.
 * The first 64 KiB page holds no slot: the gear table of the in-place
 * chunking loop (gear-wasm.ts) lives there.
 */
import { xxh64Over } from './xxh64-wasm.js';
import { gearOver, installGearTable } from './gear-wasm.js';
import type { GearRun } from '../chunker/gear.js';

export const PAGE = 65536;
/** Slot size: 4 MiB + 64 KiB, so a chunk of up to 4 MiB starts at any offset below 64 KiB. */
export const SLOT_SIZE = 4 * 1024 * 1024 + PAGE;
/** Room in a slot for data placed at an offset within a 4 KiB block. */
export const SLOT_DATA = SLOT_SIZE - 4096;
const SLOT_PAGES = SLOT_SIZE / PAGE;
/** At most 1 GiB of address space (only slots in use are ever touched). */
const MAX_PAGES = 16384;
/** Pages before slot 0 (the gear table's). */
const RESERVED_PAGES = 1;
const MAX_SLOTS = Math.floor((MAX_PAGES - RESERVED_PAGES) / SLOT_PAGES);

export class Arena {
  readonly memory = new WebAssembly.Memory({ initial: RESERVED_PAGES, maximum: MAX_PAGES, shared: true });
  private slots = 0;
  private free: number[] = [];
  private waiting: Array<(slot: number) => void> = [];
  /** Runs of consecutive slots given back, by length: kept whole for the next takeRun of that length. */
  private freeRuns = new Map<number, number[]>();
  private freeRunSlots = 0;
  private runWaiting = new Map<number, Array<(first: number) => void>>();
  private buf: SharedArrayBuffer = this.memory.buffer as unknown as SharedArrayBuffer;
  /** XXH64 of arena bytes, in place. */
  readonly xxh64 = xxh64Over(this.memory);
  /** The gear loop over arena bytes, for GearCdc on this thread. */
  readonly gear: GearRun;

  constructor() {
    // Written before any pool thread exists, so every thread sees it.
    installGearTable(this.memory);
    this.gear = gearOver(this.memory);
  }

  /** A free slot; waits when every slot is in use (their holders give them back as they finish). */
  take(): number | Promise<number> {
    const s = this.free.pop();
    if (s !== undefined) return s;
    if (this.slots < MAX_SLOTS) {
      this.memory.grow(SLOT_PAGES);
      this.buf = this.memory.buffer as unknown as SharedArrayBuffer;
      return this.slots++;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(slot: number): void {
    const w = this.waiting.shift();
    if (w) w(slot);
    else this.free.push(slot);
  }

  /**
   * `n` consecutive slots (their first index): one stretch of memory of
   * n * SLOT_SIZE bytes, for data that must lie back to back. Runs go back
   * whole (giveRun) and are reused for runs of the same length; when the
   * arena is at its size, this waits for one.
   */
  takeRun(n: number): number | Promise<number> {
    const free = this.freeRuns.get(n);
    if (free && free.length > 0) {
      this.freeRunSlots -= n;
      return free.pop()!;
    }
    if (this.slots + n <= MAX_SLOTS) {
      this.memory.grow(n * SLOT_PAGES);
      this.buf = this.memory.buffer as unknown as SharedArrayBuffer;
      const first = this.slots;
      this.slots += n;
      return first;
    }
    return new Promise((resolve) => {
      const w = this.runWaiting.get(n) ?? [];
      w.push(resolve);
      this.runWaiting.set(n, w);
    });
  }

  giveRun(first: number, n: number): void {
    const w = this.runWaiting.get(n)?.shift();
    if (w) return w(first);
    const free = this.freeRuns.get(n) ?? [];
    free.push(first);
    this.freeRuns.set(n, free);
    this.freeRunSlots += n;
  }

  /** The arena address of byte `off` of `slot`. */
  addr(slot: number, off = 0): number {
    return RESERVED_PAGES * PAGE + slot * SLOT_SIZE + off;
  }

  /**
   * Copies `data` to arena address `to`. (TypedArray.set on shared memory
   * runs at a quarter of memcpy's speed in V8; copyWithin and Buffer.copy do not.)
   */
  write(to: number, data: Uint8Array): void {
    if (data.buffer === this.memory.buffer) new Uint8Array(this.memory.buffer).copyWithin(to, data.byteOffset, data.byteOffset + data.length);
    else Buffer.from(data.buffer, data.byteOffset, data.length).copy(this.view(to, data.length));
  }

  /** A Buffer over `len` bytes at arena address `addr`. */
  view(addr: number, len: number): Buffer {
    return Buffer.from(this.buf, addr, len);
  }

  get slotsAllocated(): number {
    return this.slots;
  }

  /** Slots taken and not given back, runs included (for tests: 0 once every operation is over). */
  get slotsInUse(): number {
    return this.slots - this.free.length - this.freeRunSlots;
  }
}

let shared: Arena | undefined;

/** The process's arena, made on first use. */
export function arena(): Arena {
  if (!shared) {
    shared = new Arena();
  }
  return shared;
}
