/**
 * Picks how many connections one file uses, from measured throughput: start at four, double
 * while a window's throughput grows by at least `growth`, and otherwise fall back to what was
 * best and probe downward (fewer connections cost less CPU for the same speed). A collapse to
 * under half of the best rate halves the count. Fixed high concurrency has been seen to collapse
 * to < 1 MB/s on real CDNs; a 2-core machine on a fast link is faster with one stream.
 */
export class AdaptiveConcurrency {
  private current: number;
  private best = { rate: 0, connections: 1 };
  private previous: { rate: number; connections: number } | undefined;
  private direction: 'up' | 'down' | 'hold' = 'up';
  private lastBytes = 0;
  private lastAt: number;

  constructor(
    private readonly max: number,
    now: number,
    private readonly growth = 1.15,
  ) {
    this.current = Math.min(4, max);
    this.lastAt = now;
  }

  get target(): number {
    return this.current;
  }

  /** Feeds the total bytes received so far; returns the (possibly new) target. */
  sample(totalBytes: number, now: number): number {
    const seconds = (now - this.lastAt) / 1000;
    if (seconds <= 0) return this.current;
    const rate = (totalBytes - this.lastBytes) / seconds;
    this.lastBytes = totalBytes;
    this.lastAt = now;
    if (rate > this.best.rate) this.best = { rate, connections: this.current };
    const before = this.previous;
    this.previous = { rate, connections: this.current };
    if (this.direction === 'hold') {
      if (rate < this.best.rate * 0.5 && this.current > 1)
        this.current = Math.max(1, Math.floor(this.current / 2));
      return this.current;
    }
    if (this.direction === 'up') {
      if (!before || rate >= before.rate * this.growth) {
        if (this.current < this.max) {
          this.current = Math.min(this.max, this.current * 2);
          return this.current;
        }
        this.direction = 'hold';
        return this.current;
      }
      // More connections did not pay: go back, then see whether fewer do as well.
      this.current = before.connections;
      this.direction = before.connections > 1 ? 'down' : 'hold';
      this.previous = before;
      return this.current;
    }
    // Probing down: keep halving while the rate holds within 5 % of the best.
    if (before && rate >= before.rate * 0.95 && this.current > 1) {
      this.current = Math.max(1, Math.floor(this.current / 2));
      return this.current;
    }
    if (before && rate < before.rate * 0.95) this.current = before.connections;
    this.direction = 'hold';
    return this.current;
  }
}
