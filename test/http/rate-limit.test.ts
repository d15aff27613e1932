import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Writes under /v1 are limited per API key or client address; reads never are. */
const LIMIT = 3;
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: String(LIMIT) });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

/** A write that reaches its handler and changes nothing: deleting a model that does not exist (404). */
function deleteMissing(remoteAddress: string) {
  return t.app.http.inject({ method: 'DELETE', url: `/v1/hub/models/${randomUUID()}`, remoteAddress });
}

describe('write rate limit', () => {
  it(`lets ${LIMIT} writes through, then answers 429 RATE_LIMITED with Retry-After`, async () => {
    for (let i = 0; i < LIMIT; i++) {
      const allowed = await deleteMissing('127.0.0.2');
      expect(allowed.statusCode).toBe(404);
      expect(allowed.headers['x-ratelimit-remaining']).toBe(String(LIMIT - i - 1));
    }
    const refused = await deleteMissing('127.0.0.2');
    expect(refused.statusCode).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.json()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: expect.stringMatching(/^Too many write requests: at most 3 per minute .*; retry in \d+/),
        request_id: refused.headers['x-request-id'],
      },
    });

    // A POST counts against the same budget as the DELETEs.
    const post = await t.app.http.inject({
      method: 'POST',
      url: '/v1/hub/sync',
      payload: { repo_id: 'org/none' },
      remoteAddress: '127.0.0.2',
    });
    expect(post.statusCode).toBe(429);
  });

  it('never limits reads', async () => {
    for (let i = 0; i < LIMIT * 3; i++) {
      const read = await t.app.http.inject({
        method: 'GET',
        url: '/v1/hub/models',
        remoteAddress: '127.0.0.2',
      });
      expect(read.statusCode).toBe(200);
      expect(read.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it('gives each client address its own budget', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await deleteMissing('127.0.0.3')).statusCode).toBe(404);
    expect((await deleteMissing('127.0.0.3')).statusCode).toBe(429);
    expect((await deleteMissing('127.0.0.4')).statusCode).toBe(404);
    expect((await deleteMissing('::1')).statusCode).toBe(404);
  });
});

describe('write rate limit with API keys', () => {
  it('gives each key its own budget, whatever address it comes from', async () => {
    const keyed = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: String(LIMIT) });
    try {
      const write = (key: string) =>
        keyed.app.http.inject({
          method: 'DELETE',
          url: `/v1/hub/models/${randomUUID()}`,
          headers: { authorization: `Bearer ${key}` },
        });
      // The first key is created while the hub is open (counted against the address), the second with the first.
      const first = await keyed.app.http.inject({
        method: 'POST',
        url: '/v1/hub/keys',
        payload: { scope: 'admin' },
      });
      expect(first.statusCode).toBe(201);
      const keyA: string = first.json().key;
      const second = await keyed.app.http.inject({
        method: 'POST',
        url: '/v1/hub/keys',
        payload: { scope: 'admin' },
        headers: { authorization: `Bearer ${keyA}` },
      });
      expect(second.statusCode).toBe(201);
      const keyB: string = second.json().key;

      for (let i = 0; i < LIMIT; i++) expect((await write(keyB)).statusCode).toBe(404);
      expect((await write(keyB)).statusCode).toBe(429);
      // Key A spent one write creating key B; it has the rest of its own budget.
      for (let i = 1; i < LIMIT; i++) expect((await write(keyA)).statusCode).toBe(404);
      expect((await write(keyA)).statusCode).toBe(429);
    } finally {
      await keyed.close();
    }
  });
});

describe('write rate limit off', () => {
  it('RATE_LIMIT_WRITES_PER_MINUTE=0 lets every write through', async () => {
    const open = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: '0' });
    try {
      for (let i = 0; i < 5; i++) {
        const response = await open.app.http.inject({
          method: 'DELETE',
          url: `/v1/hub/models/${randomUUID()}`,
        });
        expect(response.statusCode).toBe(404);
        expect(response.headers['x-ratelimit-limit']).toBeUndefined();
      }
    } finally {
      await open.close();
    }
  });
});
