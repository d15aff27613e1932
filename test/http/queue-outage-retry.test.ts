import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { type OwnServer, startOwnRedis, until } from '../support/own-servers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * A client retrying a download the queue refused (503) ends up with one job, with or without an
 * Idempotency-Key. Redis stopped: the queue is checked before the row is written, so the refusal
 * leaves nothing and the retry creates the job. Redis refusing writes (CLIENT PAUSE WRITE: PING
 * answers, the enqueue does not): the row is written, the enqueue times out, and the retry joins
 * that row and enqueues it. Our own redis-server; the shared one is never touched. A one-hour lease
 * keeps the reaper and BullMQ's stalled-job check from running (and writing) during the test.
 */
describe.runIf(BACKEND === 'distributed')('retrying a download the queue refused', () => {
  let hub: FakeHub;
  let redis: OwnServer;
  let admin: Redis;
  let t: TestApp;
  beforeAll(async () => {
    hub = await startFakeHub();
    redis = await startOwnRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: null });
    admin.on('error', () => {});
    t = await startTestApp(hub.url, {
      REDIS_URL: redis.url,
      JOB_LEASE_MS: '3600000',
      RATE_LIMIT_WRITES_PER_MINUTE: '0',
    });
  });
  afterAll(async () => {
    admin?.disconnect();
    await t?.close();
    await redis?.destroy();
    await hub?.close();
  });

  /** A synced repo of one file, `<name>.safetensors`; returns its artifact id. */
  async function syncedFile(name: string): Promise<string> {
    const repoId = `retry/${name}`;
    const path = `${name}.safetensors`;
    await hub.addRepo({
      id: repoId,
      files: [{ path, content: { size: 128 * 1024, seed: `retry-${name}` } }],
    });
    const { artifacts } = await registerAndSync(t, repoId, 'Retry', name);
    return artifacts.get(path).id;
  }

  const download = (artifactId: string, key: string | undefined) =>
    t.app.http.inject({
      method: 'POST',
      url: '/v1/hub/download',
      payload: { artifact_ids: [artifactId] },
      ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }),
    });

  async function downloadJobsOf(artifactId: string): Promise<any[]> {
    const page = await t.request('GET', '/v1/hub/jobs?type=download&limit=200');
    expect(page.status).toBe(200);
    return page.body.items.filter((j: any) => j.payload.artifact_ids.join() === artifactId);
  }

  function expectUnavailable(response: LightMyRequestResponse) {
    expect(response.statusCode).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(response.json().error.code).toBe('SERVICE_UNAVAILABLE');
    expect(response.json().error.message).toMatch(/^The job queue is unavailable \(.+\); try again later$/);
  }

  for (const key of ['stopped-retry-key', undefined]) {
    const how = key ? 'with the same Idempotency-Key' : 'with the same body and no key';
    it(`Redis stopped: a retry ${how} creates the one job`, async () => {
      const artifactId = await syncedFile(key ? 'stopped-key' : 'stopped-body');
      await redis.stop();
      const started = Date.now();
      const refused = await download(artifactId, key);
      expect(Date.now() - started).toBeLessThan(3000);
      expectUnavailable(refused);
      expect(await downloadJobsOf(artifactId)).toEqual([]);

      await redis.start();
      let accepted: LightMyRequestResponse | undefined;
      await until(
        'the retried download is accepted',
        async () => {
          accepted = await download(artifactId, key);
          return accepted.statusCode === 202;
        },
        30_000,
      );
      const jobId = accepted?.json().job_id;
      const again = await download(artifactId, key);
      expect(again.statusCode).toBe(202);
      expect(again.json().job_id).toBe(jobId);
      expect((await t.waitForJob(jobId)).status).toBe('completed');
      expect((await downloadJobsOf(artifactId)).map((j) => j.id)).toEqual([jobId]);
    });
  }

  for (const key of ['paused-retry-key', undefined]) {
    const how = key ? 'with the same Idempotency-Key' : 'with the same body and no key';
    it(`Redis refusing writes: a retry ${how} joins the row the failed enqueue left`, async () => {
      const name = key ? 'paused-key' : 'paused-body';
      const artifactId = await syncedFile(name);
      // Retry-After: 1 on the file keeps the job active past the retry, so the retry without a key
      // meets it (one that came after it finished would rightly be a new download).
      hub.addFault({ filePath: `${name}.safetensors`, status: 503, retryAfterSeconds: 1 });
      const faultsAnswered = () => hub.requests.filter((r) => r.status === 503).length;
      const faultsBefore = faultsAnswered();
      await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      let left: any[];
      try {
        const started = Date.now();
        const refused = await download(artifactId, key);
        expect(Date.now() - started).toBeLessThan(8000);
        expectUnavailable(refused);
        left = await downloadJobsOf(artifactId);
        expect(left.map((j) => j.status)).toEqual(['pending']);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
      }

      const retried = await download(artifactId, key);
      expect(retried.statusCode).toBe(202);
      expect(retried.json()).toMatchObject({
        job_id: left[0].id,
        message: key
          ? 'Joined the download job created earlier with this Idempotency-Key'
          : 'Joined the download job already queued for 1 artifact(s)',
      });
      expect((await t.waitForJob(left[0].id)).status).toBe('completed');
      expect(faultsAnswered()).toBe(faultsBefore + 1);
      expect((await downloadJobsOf(artifactId)).map((j) => j.id)).toEqual([left[0].id]);
    });
  }
});
