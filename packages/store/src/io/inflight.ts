/**
 * Work started a few at a time, as in a restore's runs or a copy's
 * batches: the first failure is kept (the caller starts nothing more once
 * `failed` is set), and `settle` returns only when nothing is running, so
 * no started work still touches the arena or a file afterwards.
 */
export class Inflight {
  private readonly running = new Set<Promise<void>>();
  /** The first error any of the work threw. */
  failed: unknown;

  constructor(private readonly limit: number) {}

  /** Tracks `work`; with `wait`, then waits while `limit` are running. */
  async add(work: Promise<unknown>, wait = true): Promise<void> {
    const p = work.then(
      () => {},
      (err) => {
        this.failed ??= err;
      },
    );
    this.running.add(p);
    void p.then(() => this.running.delete(p));
    if (wait) while (this.running.size >= this.limit) await Promise.race(this.running);
  }

  /** Waits for everything started; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.running);
    if (this.failed) throw this.failed;
  }

  /** Waits for everything started, failures or not (for a `finally`). */
  async drain(): Promise<void> {
    await Promise.all(this.running);
  }
}
