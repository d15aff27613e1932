/**
 * Picks how many connections one file uses, from measured throughput. A 2-core machine on a fast
 * link is fastest with one stream (every extra connection only costs CPU), while a CDN that limits
 * each connection wants many; so the controller measures both before it commits:
 *
 * - probe: one window on `PROBE_CONNECTIONS` (a small file is done within it, in parallel), then
 *   one on a single connection. Unless the several connections were at least `PROBE_GAIN`
 *   times as fast (so each connection is what limits the rate), it stays on one connection (the
 *   transfer then streams the rest in one response).
 * - up: otherwise double while a window's throughput grows by at least `growth`; when it stops
 *   paying, fall back to what was best and probe downward (fewer connections cost less CPU for
 *   the same speed).
 * - hold: a collapse to under half of the best rate halves the count. Fixed high concurrency has
 *   been seen to collapse to < 1 MB/s on real CDNs.
 *
 * A window starts only once the connections above the target have finished their chunks, so one
 * count's bytes never blur the measurement of another.
 */
const PROBE_CONNECTIONS = 4;
/**
 * Several connections must bring at least this much over one to count as a per-connection limit
 * (a throttled CDN gives ~4x; loopback on a busy machine, anything from 0.7x to 1.6x).
 */
const PROBE_GAIN = 2;
/**
 * One measuring window (ms). Shorter windows misjudge a CDN that sends in bursts (the fake hub paces
 * in 1/20 s pieces): 100 ms on one connection has been seen to read 1.5x its real rate.
 */
const ADAPT_WINDOW_MS = 200;

export class AdaptiveConcurrency {
  private current: number;
  private best = { rate: 0, connections: 1 };
  private previous: { rate: number; connections: number } | undefined;
  private direction: 'probe' | 'up' | 'down' | 'hold';
  private lastBytes = 0;
  private lastAt: number;

  constructor(
    private readonly max: number,
    now: number,
    private readonly growth = 1.15,
  ) {
    this.current = Math.min(PROBE_CONNECTIONS, max);
    this.direction = this.current > 1 ? 'probe' : 'hold';
    this.lastAt = now;
  }

  get target(): number {
    return this.current;
  }

  /** True once probing is over: the target changes from now on only if throughput collapses. */
  get settled(): boolean {
    return this.direction === 'hold';
  }

  /**
   * Feeds the total bytes received so far and how many connections are running (more than the
   * target while some finish their chunks); returns the (possibly new) target.
   */
  sample(totalBytes: number, now: number, running = this.current): number {
    if (running > this.current) {
      this.lastBytes = totalBytes;
      this.lastAt = now;
      return this.current;
    }
    if (now - this.lastAt < ADAPT_WINDOW_MS) return this.current;
    const seconds = (now - this.lastAt) / 1000;
    const rate = (totalBytes - this.lastBytes) / seconds;
    this.lastBytes = totalBytes;
    this.lastAt = now;
    if (rate > this.best.rate) this.best = { rate, connections: this.current };
    const before = this.previous;
    this.previous = { rate, connections: this.current };
    if (this.direction === 'probe') {
      if (!before) {
        this.current = 1;
        return this.current;
      }
      if (before.rate >= rate * PROBE_GAIN) {
        // Each connection is limited: continue upward from the several connections' window.
        this.direction = 'up';
        this.previous = before;
        this.current = before.connections;
        return this.grow();
      }
      // More connections did not multiply the rate: the machine, not each connection, is the
      // limit, and on a busy 2-core machine parallel ranges cost more CPU than they bring.
      this.direction = 'hold';
      return this.current;
    }
    if (this.direction === 'hold') {
      if (rate < this.best.rate * 0.5 && this.current > 1)
        this.current = Math.max(1, Math.floor(this.current / 2));
      return this.current;
    }
    if (this.direction === 'up') {
      if (!before || rate >= before.rate * this.growth) return this.grow();
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

  private grow(): number {
    if (this.current < this.max) {
      this.current = Math.min(this.max, this.current * 2);
      return this.current;
    }
    this.direction = 'hold';
    return this.current;
  }
}
