/**
 * At most one run per key at a time in this process: a second caller with the same key waits for
 * the first and gets its result (or error). Two jobs wanting the same content download it once.
 */
export class SingleFlight {
  private readonly running = new Map<string, Promise<unknown>>();

  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing as Promise<T>;
    const started = operation().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
