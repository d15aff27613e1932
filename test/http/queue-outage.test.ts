import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, nowIso } from '../../src/clock.js';
import { JobsRepository } from '../../src/db/jobs.repo.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { type OwnServer, startOwnRedis, until } from '../support/own-servers.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Redis (the distributed queue) stopped under a running app: requests that queue a job get 503
 * SERVICE_UNAVAILABLE with Retry-After at once instead of hanging, and write no job row; reads are
 * unaffected; a job row whose enqueue failed is offered to the queue again once Redis is back, and
 * runs (test/http/queue-outage-retry.test.ts: retries of a refused request make one job). The
 * embedded queue lives in the process and cannot be down (its database outages are tested in
 * database-outage.test.ts).
 */
describe.runIf(BACKEND === 'distributed')('Redis stopped under a running app', () => {
  let hub: FakeHub;
  let redis: OwnServer;
  let t: TestApp;
  beforeAll(async () => {
    hub = await startFakeHub();
    await hub.addRepo({ id: 'queue/repo', files: [{ path: 'config.json', content: '{"queue":1}' }] });
    redis = await startOwnRedis();
    // A short lease makes the reaper's re-offer of unqueued jobs quick.
    t = await startTestApp(hub.url, {
      REDIS_URL: redis.url,
      JOB_LEASE_MS: '1000',
      RATE_LIMIT_WRITES_PER_MINUTE: '0',
    });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
    await hub?.close();
  });

  it('answers 503 with Retry-After while it is down, and runs the job once it is back', async () => {
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Queue',
      name: 'Repo',
      source_repo_id: 'queue/repo',
    });
    expect(registered.status).toBe(201);
    await redis.stop();

    const started = Date.now();
    const sync = await t.app.http.inject({
      method: 'POST',
      url: '/v1/hub/sync',
      payload: { repo_id: 'queue/repo' },
    });
    expect(Date.now() - started).toBeLessThan(6000);
    expect(sync.statusCode).toBe(503);
    expect(Number(sync.headers['retry-after'])).toBeGreaterThan(0);
    const { error } = sync.json();
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toMatch(/^The job queue is unavailable \(.+\); try again later$/);
    expect(error.request_id).toBe(sync.headers['x-request-id']);

    expect((await t.request('GET', '/v1/hub/models')).status).toBe(200);
    expect((await t.request('GET', '/healthz')).status).toBe(200);
    const ready = await t.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.queue).not.toBe('ok');

    // The queue was checked before the job row was written: nothing is left for a retry to duplicate.
    expect((await t.request('GET', '/v1/hub/jobs?type=sync')).body.items).toHaveLength(0);

    // The row an enqueue that failed after the insert leaves behind (Redis lost between the two).
    const orphan = await new JobsRepository(t.app.db).insert({
      id: newId(),
      type: 'sync',
      payload: JSON.stringify({ model_id: registered.body.id, repo_id: 'queue/repo' }),
      createdAt: nowIso(),
      dedupKey: `sync:${registered.body.id}`,
    });
    expect(orphan?.status).toBe('pending');

    await redis.start();
    const job = await t.waitForJob(orphan?.id as string, 30_000);
    expect(job.status).toBe('completed');
    await until('a sync is accepted again', async () => {
      const again = await t.request('POST', '/v1/hub/sync', { repo_id: 'queue/repo' });
      return again.status === 202;
    });
    const model = (await t.request('GET', '/v1/hub/models')).body.items[0];
    expect(model.status).toBe('synced');
  });
});
