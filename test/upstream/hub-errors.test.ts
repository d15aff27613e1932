import { describe, expect, it } from 'vitest';
import { retryAfter, upstreamErrorFromResponse } from '../../src/upstream/hub-errors.js';

function response(status: number, headers: Record<string, string> = {}, body = '') {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { status, header: (name: string) => lower[name], body, what: 'model info for org/repo' };
}

describe('upstreamErrorFromResponse', () => {
  it.each([
    [401, 'RepoNotFound', 'UPSTREAM_REPO_NOT_FOUND'],
    [404, 'RepoNotFound', 'UPSTREAM_REPO_NOT_FOUND'],
    [401, 'GatedRepo', 'UPSTREAM_GATED'],
    [403, 'GatedRepo', 'UPSTREAM_GATED'],
    [404, 'RevisionNotFound', 'UPSTREAM_REVISION_NOT_FOUND'],
    [404, 'EntryNotFound', 'UPSTREAM_ENTRY_NOT_FOUND'],
  ])('maps %i with X-Error-Code %s to a permanent %s', (status, hubCode, code) => {
    const error = upstreamErrorFromResponse(
      response(status, { 'X-Error-Code': hubCode, 'X-Error-Message': 'hub says no' }, '{"error":"ignored"}'),
    );
    expect(error.code).toBe(code);
    expect(error.details).toMatchObject({ status, hubErrorCode: hubCode, retryable: false });
    expect(error.message).toContain('hub says no');
    expect(error.message).toContain(hubCode);
  });

  it('explains a gated repo with a hint about HF_TOKEN', () => {
    const error = upstreamErrorFromResponse(
      response(401, { 'x-error-code': 'GatedRepo' }, '{"error":"Access to model x is restricted."}'),
    );
    expect(error.message).toContain('HF_TOKEN');
    expect(error.message).toContain('Access to model x is restricted.');
  });

  it('tells a rejected token from a missing one', () => {
    const rejected = upstreamErrorFromResponse(
      response(401, { 'x-error-message': 'Invalid credentials in Authorization header' }),
    );
    expect(rejected.code).toBe('UPSTREAM_UNAUTHORIZED');
    expect(rejected.message).toContain('rejected HF_TOKEN');
    const missing = upstreamErrorFromResponse(response(401, {}, '{"error":"Unauthorized"}'));
    expect(missing.message).toContain('requires authentication');
  });

  it.each([408, 429, 500, 502, 503, 504])('marks %i retryable', (status) => {
    expect(upstreamErrorFromResponse(response(status)).details.retryable).toBe(true);
  });

  it.each([400, 403, 405, 501])('marks %i permanent', (status) => {
    expect(upstreamErrorFromResponse(response(status)).details.retryable).toBe(false);
  });

  it('reads the message from a JSON body, ignores HTML, and truncates long text', () => {
    expect(upstreamErrorFromResponse(response(500, {}, '{"error":["a","b"]}')).message).toContain('a; b');
    expect(upstreamErrorFromResponse(response(502, {}, '<html>Bad gateway</html>')).message).not.toContain(
      '<html>',
    );
    expect(upstreamErrorFromResponse(response(500, {}, 'x'.repeat(5000))).message.length).toBeLessThan(700);
  });
});

describe('retryAfter', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name];
  it('prefers the RateLimit reset time plus one second when nothing remains', () => {
    expect(retryAfter(headers({ ratelimit: '"api";r=0;t=42', 'retry-after': '5' }))).toBe(43);
  });
  it('falls back to an integer Retry-After', () => {
    expect(retryAfter(headers({ ratelimit: '"api";r=10;t=42', 'retry-after': '7' }))).toBe(7);
    expect(retryAfter(headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }))).toBeUndefined();
  });
  it('puts the wait on a 429 error', () => {
    const error = upstreamErrorFromResponse(response(429, { 'Retry-After': '3' }));
    expect(error.code).toBe('UPSTREAM_RATE_LIMITED');
    expect(error.details.retryAfterSeconds).toBe(3);
  });
});
