import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { upstreamErrorFromResponse, upstreamNetworkError } from '../../src/upstream/hub-errors.js';
import { describeUpstreamRetry, formatDelay } from '../../src/upstream/retry.js';

/** The words of a retry, from errors made the way the hub client makes them. */
const answered = (status: number, headers: Record<string, string> = {}) =>
  upstreamErrorFromResponse({
    status,
    header: (name) => headers[name.toLowerCase()],
    body: '',
    what: 'model info for org/name@main',
  });

describe('describeUpstreamRetry', () => {
  it('names the network error code of a request that got no answer (fetch wraps it twice)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const error = upstreamNetworkError(
      new TypeError('fetch failed', { cause: refused }),
      'model info for org/name@main',
    );
    expect(
      describeUpstreamRetry(error, {
        attempt: 2,
        maxRetries: 5,
        delayMs: 4000,
        what: 'model info for org/name@main',
      }),
    ).toEqual({
      message: 'upstream unreachable (ECONNREFUSED), retry 2/5 in 4 s (model info for org/name@main)',
      attempt: 2,
      maxRetries: 5,
      delayMs: 4000,
    });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(describeUpstreamRetry(reset, { attempt: 1, maxRetries: 3, delayMs: 250 }).message).toBe(
      'upstream connection lost (ECONNRESET), retry 1/3 in 250 ms',
    );
  });

  it('gives an HTTP answer by its status, with the Retry-After it asked for', () => {
    expect(describeUpstreamRetry(answered(503), { attempt: 1, maxRetries: 5, delayMs: 1000 }).message).toBe(
      'upstream answered 503, retry 1/5 in 1 s',
    );
    expect(
      describeUpstreamRetry(answered(503, { 'retry-after': '7' }), {
        attempt: 3,
        maxRetries: 5,
        delayMs: 7000,
      }).message,
    ).toBe('upstream answered 503 (Retry-After 7 s), retry 3/5 in 7 s');
  });

  it('says a 429 is a rate limit and how long the hub asked to wait', () => {
    const limited = answered(429, { 'retry-after': '30' });
    expect(
      describeUpstreamRetry(limited, {
        attempt: 1,
        maxRetries: 5,
        delayMs: 30_000,
        what: 'config.json from byte 0',
      }).message,
    ).toBe(
      'upstream answered 429 (rate limited, Retry-After 30 s), retry 1/5 in 30 s (config.json from byte 0)',
    );
    expect(describeUpstreamRetry(answered(429), { attempt: 1, maxRetries: 5, delayMs: 1500 }).message).toBe(
      'upstream answered 429 (rate limited), retry 1/5 in 1.5 s',
    );
  });

  it('calls an expired signed URL what it is, and quotes other failures without any URL query', () => {
    const expired = new UpstreamError('UPSTREAM_URL_EXPIRED', 'Signed download URL was refused (HTTP 403)', {
      status: 403,
      retryable: true,
    });
    expect(describeUpstreamRetry(expired, { attempt: 2, maxRetries: 5, delayMs: 20 }).message).toBe(
      'signed download URL refused (HTTP 403), retry 2/5 in 20 ms',
    );
    const early = new UpstreamError('UPSTREAM_UNAVAILABLE', 'Upstream closed w.bin early at byte 10', {
      retryable: true,
    });
    expect(describeUpstreamRetry(early, { attempt: 1, maxRetries: 5, delayMs: 12_400 }).message).toBe(
      'upstream failed: Upstream closed w.bin early at byte 10, retry 1/5 in 12 s',
    );
  });
});

describe('formatDelay', () => {
  it('reads as people read waits: ms below a second, one decimal below ten seconds', () => {
    expect([0, 999, 1000, 1540, 4000, 9960, 12_400, 300_000].map(formatDelay)).toEqual([
      '0 ms',
      '999 ms',
      '1 s',
      '1.5 s',
      '4 s',
      '10 s',
      '12 s',
      '300 s',
    ]);
  });
});
