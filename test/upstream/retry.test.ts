import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { backoffDelayMs, withRetry } from '../../src/upstream/retry.js';

const policy = { maxRetries: 3, baseDelayMs: 1000 };

describe('backoffDelayMs', () => {
  it('doubles from the base and caps at 8×, with jitter between 50 % and 100 %', () => {
    expect([0, 1, 2, 3, 4, 9].map((a) => backoffDelayMs(a, policy, undefined, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 8000, 8000,
    ]);
    expect(backoffDelayMs(2, policy, undefined, () => 0)).toBe(2000);
  });
  it('uses the server-requested wait, capped', () => {
    expect(backoffDelayMs(0, policy, 12)).toBe(12_000);
    expect(backoffDelayMs(0, { ...policy, maxWaitMs: 5000 }, 600)).toBe(5000);
  });
});

describe('withRetry', () => {
  const transient = () => new UpstreamError('UPSTREAM_UNAVAILABLE', 'boom', { retryable: true });
  it('retries transient failures until success and reports each retry', async () => {
    const seen: number[] = [];
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw transient();
        return 'ok';
      },
      { maxRetries: 5, baseDelayMs: 1 },
      (_e, attempt) => seen.push(attempt),
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(seen).toEqual([1, 2]);
  });
  it('gives up after maxRetries and rethrows the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw transient();
        },
        { maxRetries: 2, baseDelayMs: 1 },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(3);
  });
  it('never retries a permanent error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new UpstreamError('UPSTREAM_GATED', 'gated', { retryable: false });
        },
        { maxRetries: 5, baseDelayMs: 1 },
      ),
    ).rejects.toThrow('gated');
    expect(calls).toBe(1);
  });
});
