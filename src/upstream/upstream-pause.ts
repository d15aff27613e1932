import type { Redis } from 'ioredis';

/**
 * One rate-limit budget for everything that talks to the hub from this deployment. The hub limits
 * per account or IP, not per worker, so when one request is told to wait (429 with `Retry-After` or
 * `RateLimit: …;r=0;t=N`) every request everywhere waits, instead of each worker discovering the
 * 429 on its own.
 */
export interface UpstreamPause {
  /** Resolves once no pause is in force. */
  waitForTurn(): Promise<void>;
  /** Holds every request off until `untilMs` (epoch ms); a later pause already in force wins. */
  pauseUntil(untilMs: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Embedded mode: one process, so the budget is a number in memory. */
export class LocalPause implements UpstreamPause {
  private until = 0;

  async waitForTurn(): Promise<void> {
    while (this.until > Date.now()) await sleep(this.until - Date.now());
  }

  async pauseUntil(untilMs: number): Promise<void> {
    this.until = Math.max(this.until, untilMs);
  }
}

/** Only ever moves the deadline later; the key expires with the pause it records. */
const EXTEND_PAUSE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
end
return 1`;

/** Distributed mode: the deadline lives in Redis, read before each upstream request. */
export class RedisPause implements UpstreamPause {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.key = `${prefix}:upstream:paused-until`;
  }

  async waitForTurn(): Promise<void> {
    for (;;) {
      let until: number;
      try {
        until = Number((await this.redis.get(this.key)) ?? 0);
      } catch (error) {
        // A Redis hiccup must not stop downloads; the hub's own 429 still slows us down.
        this.onError(error);
        return;
      }
      const wait = until - Date.now();
      if (!(wait > 0)) return;
      await sleep(wait);
    }
  }

  async pauseUntil(untilMs: number): Promise<void> {
    try {
      await this.redis.eval(EXTEND_PAUSE, 1, this.key, String(Math.ceil(untilMs)));
    } catch (error) {
      this.onError(error);
    }
  }
}
