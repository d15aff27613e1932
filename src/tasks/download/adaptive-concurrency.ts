/**
 * Picks how many connections one file uses, from measured throughput. A 2-core machine on a fast
 * link is fastest with one stream (every extra connection only costs CPU), while a CDN that limits
 * each connection wants them all; so the controller measures both before it commits:
 *
 * - probe: one window on every connection allowed (a small file is done within it, in parallel),
 *   then one on a single connection. Unless all of them were at least `PROBE_GAIN` times as fast
 *   (so each connection is what limits the rate), it stays on one connection (the transfer then
 *   streams the rest in one response); otherwise it returns to the full width and keeps it, about
 *   a second after the start. When the first look at the full width did not prove it (each
 *   connection brought less than `FULL_WIDTH_SHARE` of the lone one, or all less than
 *   `PROBE_GAIN` times as much) but did bring clearly more than the lone one
 *   (`SECOND_LOOK_GAIN`), the full width gets more windows before the decision, for as long as
 *   each is clearly faster than the one before (`RAMP_GAIN`, at most `MAX_SECOND_LOOKS`), and the
 *   decision takes the best: connections that had just opened are often slower than they will be
 *   (handshakes, slow start, a machine still busy starting the transfer), and such windows have
 *   been seen to make eight throttled connections look like three, or like one.
 * - confirm: a probe that chose one connection is checked once more about two seconds later
 *   (`CONFIRM_AFTER_WINDOWS`): one more window at the full width, against the lone connection's
 *   rate meanwhile. The first moments of a transfer can be slow enough on a busy machine to
 *   hide a per-connection limit, and a large file would otherwise run at an eighth of the speed to
 *   its end. On a fast link this costs one window, and then the file streams on alone.
 * - down: when the full width pays but its connections each bring clearly less than one alone did,
 *   the link (not each connection) is the limit somewhere below the full width: halve while the
 *   rate holds, so no more connections than the link needs keep running.
 * - hold: a collapse to under a quarter of the best rate for `COLLAPSE_WINDOWS` windows in a row
 *   halves the count (one slow window is a disk flush or a pause, and a machine short of CPU slows
 *   every connection alike: fewer of them would only be slower). Fixed high concurrency has been
 *   seen to collapse to < 1 MB/s on real CDNs.
 *
 * A window starts only once the connections above the target have finished their chunks, so one
 * count's bytes never blur the measurement of another; the first starts once every connection has
 * received bytes and `WARM_UP_MIN_MS` have passed (or after `WARM_UP_MAX_MS`), so handshakes, slow
 * starts on a distant link and a busy start do not make many connections look no faster than one.
 */
/**
 * All connections must bring at least this much over one to count as a per-connection limit
 * (a throttled CDN gives the full width; loopback on a busy machine, anything from 0.7x to 1.6x).
 */
const PROBE_GAIN = 2;
/** Connections that each bring at least this share of the single stream's rate are all kept. */
const FULL_WIDTH_SHARE = 0.5;
/**
 * One measuring window (ms). Shorter windows misjudge a CDN that sends in bursts (the fake hub paces
 * in 1/20 s pieces): 100 ms on one connection has been seen to read 1.5x its real rate.
 */
const ADAPT_WINDOW_MS = 200;
/** A further look at the full width is taken while each is this much faster than the one before. */
const RAMP_GAIN = 1.2;
/**
 * The full width gets more looks only when it brought at least this much more than the lone
 * connection: on a fast link the two windows differ by up to ~1.4x either way (the hash and the
 * writes of one window run partly in the next), and each look there costs a window at the full
 * width; connections that had just opened and were held back brought 2x and more.
 */
const SECOND_LOOK_GAIN = 1.5;
/** Looks at the full width after the lone window, at most. */
const MAX_SECOND_LOOKS = 4;
/** Windows on one connection before the full width gets its confirming look. */
const CONFIRM_AFTER_WINDOWS = 10;
/** Windows in a row under `COLLAPSE_SHARE` of the best rate that make a collapse. */
const COLLAPSE_WINDOWS = 3;
const COLLAPSE_SHARE = 0.25;
/**
 * The first window starts this long after the transfer did at the earliest: a transfer's first
 * few hundred milliseconds have been measured at a fraction of what the same connections bring
 * right after, on one connection or eight alike (the process is still busy starting it), and such
 * a window misjudges either way. The connections run at the full width meanwhile, which on a fast
 * link costs CPU: 300 ms was 5–7 % faster there than 500, and the same when throttled.
 */
const WARM_UP_MIN_MS = 300;
/** The first window starts at the latest this long after the transfer did. */
const WARM_UP_MAX_MS = 1000;

export class AdaptiveConcurrency {
  private current: number;
  private best = 0;
  private previous: { rate: number; connections: number } | undefined;
  private direction: 'spread' | 'single' | 'respread' | 'alone' | 'confirm' | 'down' | 'hold';
  /** On one connection before the confirming look: windows so far and the best rate. */
  private alone = { windows: 0, rate: 0 };
  /**
   * While the full width gets more looks: the best of them so far, the last one's rate, how many
   * have been taken after the lone window, and the lone connection's rate.
   */
  private looks:
    | { best: { rate: number; connections: number }; last: number; taken: number; single: number }
    | undefined;
  private lastBytes = 0;
  private lastAt: number;
  private warm = false;
  /**
   * Before the next window starts: the connections that must have streamed, since when, and how
   * long it lasts at least.
   */
  private warmUp: { streamed: number; since: number; minMs: number };
  private slowWindows = 0;

  constructor(
    private readonly max: number,
    now: number,
    warmUpMinMs = WARM_UP_MIN_MS,
  ) {
    this.current = max;
    this.direction = max > 1 ? 'spread' : 'hold';
    this.lastAt = now;
    this.warmUp = { streamed: max, since: now, minMs: warmUpMinMs };
  }

  get target(): number {
    return this.current;
  }

  /** True once probing is over: the target changes from now on only if throughput collapses. */
  get settled(): boolean {
    return this.direction === 'hold';
  }

  /**
   * Feeds the total bytes received so far, how many connections are running (more than the
   * target while some finish their chunks) and how many connections have received bytes at least
   * once; returns the (possibly new) target.
   */
  sample(totalBytes: number, now: number, running = this.current, streamed = running): number {
    if (!this.warm) {
      const waited = now - this.warmUp.since;
      this.warm =
        (streamed >= this.warmUp.streamed && waited >= this.warmUp.minMs) || waited >= WARM_UP_MAX_MS;
      // A window never reaches back into the minimum warm-up: it starts with the sample that ends it.
      if (this.warm && this.lastAt - this.warmUp.since < this.warmUp.minMs) {
        this.lastBytes = totalBytes;
        this.lastAt = now;
        return this.current;
      }
    }
    if (running > this.current || !this.warm) {
      this.lastBytes = totalBytes;
      this.lastAt = now;
      return this.current;
    }
    if (now - this.lastAt < ADAPT_WINDOW_MS) return this.current;
    const seconds = (now - this.lastAt) / 1000;
    const rate = (totalBytes - this.lastBytes) / seconds;
    this.lastBytes = totalBytes;
    this.lastAt = now;
    this.best = Math.max(this.best, rate);
    const before = this.previous;
    this.previous = { rate, connections: this.current };
    switch (this.direction) {
      case 'spread':
        this.current = 1;
        this.direction = 'single';
        return this.current;
      case 'single': {
        const spread = before ?? { rate: 0, connections: 1 };
        // More looks only when the full width did bring clearly more than one connection alone.
        if (!provesFullWidth(spread, rate) && spread.rate >= rate * SECOND_LOOK_GAIN) {
          this.looks = { best: spread, last: spread.rate, taken: 0, single: rate };
          this.current = spread.connections;
          this.direction = 'respread';
          return this.current;
        }
        return this.decide(spread, rate);
      }
      case 'respread': {
        const looks = this.looks as NonNullable<typeof this.looks>;
        const best = { rate: Math.max(rate, looks.best.rate), connections: this.current };
        const ramping = rate >= looks.last * RAMP_GAIN;
        looks.best = best;
        looks.last = rate;
        looks.taken++;
        if (!provesFullWidth(best, looks.single) && ramping && looks.taken < MAX_SECOND_LOOKS) {
          return this.current;
        }
        return this.decide(best, looks.single);
      }
      case 'alone':
        this.alone.rate = Math.max(this.alone.rate, rate);
        if (++this.alone.windows < CONFIRM_AFTER_WINDOWS) return this.current;
        // The next window starts once the new connections stream.
        this.current = this.max;
        this.direction = 'confirm';
        this.warm = false;
        this.warmUp = { streamed: streamed + this.max - 1, since: now, minMs: 0 };
        return this.current;
      case 'confirm': {
        const spread = { rate, connections: this.current };
        this.current = provesFullWidth(spread, this.alone.rate) ? this.max : 1;
        this.direction = 'hold';
        return this.current;
      }
      case 'down':
        // Keep halving while the rate holds within 5 % of the wider count's.
        if (before && rate >= before.rate * 0.95 && this.current > 1) {
          this.current = Math.max(1, Math.floor(this.current / 2));
          return this.current;
        }
        if (before && rate < before.rate * 0.95) this.current = before.connections;
        this.direction = 'hold';
        return this.current;
      case 'hold':
        this.slowWindows = rate < this.best * COLLAPSE_SHARE ? this.slowWindows + 1 : 0;
        if (this.slowWindows >= COLLAPSE_WINDOWS && this.current > 1) {
          this.slowWindows = 0;
          this.current = Math.max(1, Math.floor(this.current / 2));
        }
        return this.current;
    }
  }

  /** Ends the probe: one connection, the full width, or fewer found by halving. */
  private decide(spread: { rate: number; connections: number }, single: number): number {
    if (spread.rate < single * PROBE_GAIN) {
      // More connections did not multiply the rate: the machine, not each connection, is the
      // limit, and on a busy 2-core machine parallel ranges cost more CPU than they bring. To be
      // confirmed once.
      this.current = 1;
      this.direction = 'alone';
      return this.current;
    }
    this.previous = spread;
    if (provesFullWidth(spread, single)) {
      this.current = spread.connections;
      this.direction = 'hold';
    } else {
      this.current = Math.max(1, Math.floor(spread.connections / 2));
      this.direction = 'down';
    }
    return this.current;
  }
}

/** Every connection pays: together `PROBE_GAIN` times one, each at least `FULL_WIDTH_SHARE` of one. */
function provesFullWidth(spread: { rate: number; connections: number }, single: number): boolean {
  return spread.rate >= single * PROBE_GAIN && spread.rate >= single * spread.connections * FULL_WIDTH_SHARE;
}
