import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * One rate-limit budget for the whole deployment (in memory when embedded, in Redis when
 * distributed): after one download is told to wait, no request of any other job reaches the hub
 * until the wait is over.
 */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { UPSTREAM_RETRY_BASE_MS: '5' });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('shared upstream rate limit', () => {
  it('holds every job off for the Retry-After one 429 asked for, then completes both', async () => {
    await hub.addRepo({
      id: 'rate/limited',
      files: [
        { path: 'a.safetensors', content: { size: 256 * 1024, seed: 'rate-a' } },
        { path: 'b.safetensors', content: { size: 256 * 1024, seed: 'rate-b' } },
      ],
    });
    const { artifacts } = await registerAndSync(t, 'rate/limited', 'Rate', 'Limited');
    hub.addFault({ filePath: 'a.safetensors', status: 429, retryAfterSeconds: 1 });
    hub.resetRequests();

    const first = await t.request('POST', '/v1/hub/download', {
      artifact_ids: [artifacts.get('a.safetensors').id],
    });
    const deadline = Date.now() + 10_000;
    let limited = hub.requests.find((r) => r.status === 429);
    while (!limited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      limited = hub.requests.find((r) => r.status === 429);
    }
    expect(limited).toBeDefined();
    const second = await t.request('POST', '/v1/hub/download', {
      artifact_ids: [artifacts.get('b.safetensors').id],
    });
    const jobs = await Promise.all([t.waitForJob(first.body.job_id), t.waitForJob(second.body.job_id)]);
    expect(jobs.map((j) => j.status)).toEqual(['completed', 'completed']);

    const limitedAt = (limited as NonNullable<typeof limited>).at;
    const later = hub.requests.filter((r) => r.at > limitedAt);
    expect(later.some((r) => r.path.includes('b.safetensors'))).toBe(true);
    // Nothing at all, for either file, reached the hub or its CDN during the second it asked for.
    for (const request of later) expect(request.at - limitedAt).toBeGreaterThanOrEqual(1000);
  });
});
