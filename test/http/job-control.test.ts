import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { artifactsOf, contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';
import { readEvents } from '../support/sse-client.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Cancel and retry through the API, on one worker slot (WORKER_CONCURRENCY=1) so a second job stays
 * pending: a pending job is cancelled at once and never runs; a running throttled download stops,
 * keeps its partial file and ends `cancelled` with its stored event; a retry resumes the partial.
 */
const REPO = 'control/files';
const BIG = 'big.safetensors';
const BIG_SIZE = 12 * MiB;
const FLAKY = 'flaky.bin';
const FLAKY_SIZE = 3 * MiB;
let hub: FakeHub;
let t: TestApp;
let base: string;
let artifacts: Map<string, any>;
let syncJobId: string;
const ids = { running: '', pending: '' };
let committedAtCancel = 0;

const storedEvents = (jobId: string) =>
  t.app.db
    .selectFrom('events')
    .select(['type', 'data'])
    .where('jobId', '=', jobId)
    .orderBy('seq')
    .execute()
    .then((rows) => rows.map((row) => ({ type: row.type, data: JSON.parse(row.data) })));

const partialState = async (artifactId: string) =>
  JSON.parse(await fs.readFile(path.join(t.storePath, 'temp', `${artifactId}.part.json`), 'utf8'));

beforeAll(async () => {
  // Per response: one connection fetches the big file in about 6 s, so there is time to cancel it.
  hub = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
  await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"model_type":"bert"}' },
      { path: BIG, content: { size: BIG_SIZE, seed: 'control-big' } },
      { path: FLAKY, content: { size: FLAKY_SIZE, seed: 'control-flaky' } },
    ],
  });
  t = await startTestApp(hub.url, {
    WORKER_CONCURRENCY: '1',
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB),
    UPSTREAM_MAX_RETRIES: '2',
  });
  base = await t.listen();
  const synced = await registerAndSync(t, REPO, 'Control', 'Files');
  artifacts = synced.artifacts;
  syncJobId = synced.job.id;
});

afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('POST /v1/hub/jobs/{job_id}/cancel', () => {
  it('cancels a pending job at once: it leaves the queue and never runs', async () => {
    const big = artifacts.get(BIG);
    ids.running = (await t.request('POST', '/v1/hub/download', { artifact_ids: [big.id] })).body.job_id;
    // The one worker slot is taken once the download has written its first checkpoint.
    await waitFor('a first checkpoint', async () =>
      (await partialState(big.id)).committedBytes > 0 ? true : undefined,
    );
    const scan = await t.request('POST', '/v1/hub/scan', {});
    expect(scan.body.status).toBe('pending');
    ids.pending = scan.body.job_id;

    const cancelled = await t.request('POST', `/v1/hub/jobs/${ids.pending}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      id: ids.pending,
      type: 'scan',
      status: 'cancelled',
      attempts: 0,
      started_at: null,
      worker: null,
    });
    expect(cancelled.body.finished_at).not.toBeNull();
    expect((await storedEvents(ids.pending)).map((e) => [e.type, e.data.stopped_by])).toEqual([
      ['job.created', undefined],
      ['job.cancelled', 'request'],
    ]);
  });

  it('stops a running download: partial kept, artifact pending again, job cancelled with its event', async () => {
    const big = artifacts.get(BIG);
    const committed = await waitFor('a durable checkpoint of at least 1 MiB', async () => {
      const state = await partialState(big.id);
      return state.committedBytes >= MiB ? (state.committedBytes as number) : undefined;
    });
    const running = await t.request('GET', `/v1/hub/jobs/${ids.running}`);
    expect(running.body).toMatchObject({ status: 'running', cancel_requested_at: null });

    const cancelled = await t.request('POST', `/v1/hub/jobs/${ids.running}/cancel`);
    expect(cancelled.status).toBe(200);
    // The worker confirmed within the wait: its transfer has stopped and the job is final.
    expect(cancelled.body).toMatchObject({ id: ids.running, status: 'cancelled', worker: null, error: null });
    expect(cancelled.body.cancel_requested_at).not.toBeNull();
    expect(cancelled.body.logs.at(-1)).toContain('Cancelled on request');

    // The partial file and its resume state are kept, at least as far as the checkpoint seen before.
    committedAtCancel = (await partialState(big.id)).committedBytes;
    expect(committedAtCancel).toBeGreaterThanOrEqual(committed);
    expect(committedAtCancel).toBeLessThan(BIG_SIZE);
    const partSize = (await fs.stat(path.join(t.storePath, 'temp', `${big.id}.part`))).size;
    expect(partSize).toBeGreaterThanOrEqual(committedAtCancel);
    const artifact = (await artifactsOf(t, REPO)).get(BIG);
    expect(artifact).toMatchObject({ download_status: 'pending', error: null, sha256: null });

    const events = await storedEvents(ids.running);
    expect(events.map((e) => e.type)).toEqual(['job.created', 'job.cancelled']);
    expect(events[1]?.data).toMatchObject({ type: 'download', stopped_by: 'worker' });
    // The job's event stream replays it like any terminal event.
    const stream = await readEvents(`${base}/v1/hub/jobs/${ids.running}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.cancelled'),
      timeoutMs: 10_000,
    });
    expect(stream.messages.filter((m) => m.id !== undefined).map((m) => m.event)).toEqual([
      'job.created',
      'job.cancelled',
    ]);
    const listed = await t.request('GET', '/v1/hub/jobs?status=cancelled');
    expect(listed.body.items.map((j: any) => j.id)).toEqual([ids.pending, ids.running]);
  });

  it('answers a cancelled job again (200), refuses a finished one (409), an unknown one (404), a bad id (400)', async () => {
    const again = await t.request('POST', `/v1/hub/jobs/${ids.running}/cancel`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('cancelled');
    expect((await storedEvents(ids.running)).filter((e) => e.type === 'job.cancelled')).toHaveLength(1);

    const completed = await t.request('POST', `/v1/hub/jobs/${syncJobId}/cancel`);
    expect(completed.status).toBe(409);
    expect(completed.body.error.code).toBe('JOB_NOT_CANCELLABLE');
    expect(completed.body.error.message).toContain(`Job ${syncJobId} completed`);
    expect((await t.request('GET', `/v1/hub/jobs/${syncJobId}`)).body.status).toBe('completed');

    const unknown = crypto.randomUUID();
    for (const verb of ['cancel', 'retry']) {
      const missing = await t.request('POST', `/v1/hub/jobs/${unknown}/${verb}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({
        code: 'JOB_NOT_FOUND',
        message: `Job ${unknown} not found`,
      });
      const bad = await t.request('POST', `/v1/hub/jobs/not-a-job/${verb}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.message).toContain('job_id');
    }
  });
});

describe('POST /v1/hub/jobs/{job_id}/retry', () => {
  it('refuses a completed job with 409', async () => {
    const refused = await t.request('POST', `/v1/hub/jobs/${syncJobId}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'JOB_NOT_RETRYABLE',
      message: `Job ${syncJobId} is completed; only a failed or cancelled job can be retried`,
    });
  });

  it('retries the cancelled download as a new job that resumes the kept partial', async () => {
    const big = artifacts.get(BIG);
    const retryAt = Date.now();
    const accepted = await t.request('POST', `/v1/hub/jobs/${ids.running}/retry`);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ status: 'pending' });
    expect(accepted.body.message).toBe(
      `Download job queued for 1 artifact(s) (retry of cancelled job ${ids.running})`,
    );
    const job = await t.waitForJob(accepted.body.job_id, 30_000);
    expect(job).toMatchObject({
      status: 'completed',
      retry_of: ids.running,
      payload: { artifact_ids: [big.id] },
    });
    expect(job.logs.join('\n')).toContain(`resuming at byte ${committedAtCancel} of ${BIG_SIZE}`);

    // Upstream served only the rest of the file the second time.
    const gets = (await contentGets(hub, REPO, BIG)).filter((r) => r.at >= retryAt);
    expect(gets.map((r) => [r.status, rangeStart(r)])).toEqual([[206, committedAtCancel]]);
    expect(BIG_SIZE - rangeStart(gets[0] as (typeof gets)[number])).toBeLessThan(BIG_SIZE);
    const upstream = await hub.fileInfo(REPO, BIG);
    const done = (await artifactsOf(t, REPO)).get(BIG);
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
  });

  it('retries a download that failed on upstream faults, once upstream recovered, from its partial', async () => {
    const flaky = artifacts.get(FLAKY);
    // The first response breaks after 1 MiB; every later one is a 503 until the retries run out.
    hub.addFault({ filePath: FLAKY, dropAfterBytes: MiB });
    hub.addFault({ filePath: FLAKY, status: 503, retryAfterSeconds: 0, times: 50 });
    const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [flaky.id] });
    const failed = await t.waitForJob(queued.body.job_id, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('503');
    const kept = (await partialState(flaky.id)).committedBytes;
    expect(kept).toBe(MiB);

    hub.clearFaults();
    const retryAt = Date.now();
    const accepted = await t.request('POST', `/v1/hub/jobs/${failed.id}/retry`);
    expect(accepted.status).toBe(202);
    expect(accepted.body.message).toContain(`(retry of failed job ${failed.id})`);
    const job = await t.waitForJob(accepted.body.job_id, 30_000);
    expect(job).toMatchObject({ status: 'completed', retry_of: failed.id });
    const gets = (await contentGets(hub, REPO, FLAKY)).filter((r) => r.at >= retryAt);
    expect(gets.map((r) => [r.status, rangeStart(r)])).toEqual([[206, MiB]]);
    const upstream = await hub.fileInfo(REPO, FLAKY);
    const done = (await artifactsOf(t, REPO)).get(FLAKY);
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);

    // Nothing left to do: every artifact of the old job is downloaded now.
    const nothing = await t.request('POST', `/v1/hub/jobs/${failed.id}/retry`);
    expect(nothing.status).toBe(409);
    expect(nothing.body.error.message).toContain('every one of its artifacts is downloaded now');
  });

  it('retries a failed sync as a sync of the same repo', async () => {
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Control',
      name: 'Later',
      source_repo_id: 'control/later',
      // Not upstream yet (its first sync fails): registered without the check.
      verify: false,
    });
    const first = await t.request('POST', '/v1/hub/sync', { repo_id: 'control/later' });
    const failed = await t.waitForJob(first.body.job_id);
    expect(failed.status).toBe('failed');
    await hub.addRepo({ id: 'control/later', files: [{ path: 'config.json', content: '{}' }] });
    const accepted = await t.request('POST', `/v1/hub/jobs/${failed.id}/retry`);
    expect(accepted.status).toBe(202);
    const job = await t.waitForJob(accepted.body.job_id);
    expect(job).toMatchObject({
      type: 'sync',
      status: 'completed',
      retry_of: failed.id,
      payload: { model_id: registered.body.id, repo_id: 'control/later' },
    });
    expect((await storedEvents(job.id))[0]).toMatchObject({
      type: 'job.created',
      data: { type: 'sync', retry_of: failed.id },
    });
  });

  it('left the cancelled pending job unrun', async () => {
    expect((await t.request('GET', `/v1/hub/jobs/${ids.pending}`)).body).toMatchObject({
      status: 'cancelled',
      attempts: 0,
      started_at: null,
    });
  });
});

describe('scopes', () => {
  it('needs the write scope to cancel or retry: a read key gets 403', async () => {
    const create = async (scope: string, key?: string) => {
      const response = await t.app.http.inject({
        method: 'POST',
        url: '/v1/hub/keys',
        payload: { scope },
        ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
      });
      return response.json().key as string;
    };
    const admin = await create('admin');
    const read = await create('read', admin);
    const write = await create('write', admin);
    const post = (url: string, key: string) =>
      t.app.http.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` } });
    for (const verb of ['cancel', 'retry']) {
      const url = `/v1/hub/jobs/${syncJobId}/${verb}`;
      const denied = await post(url, read);
      expect(denied.statusCode).toBe(403);
      expect(denied.json().error.message).toContain('needs "write"');
      // Past the scope check: the completed job is refused for what it is.
      expect((await post(url, write)).statusCode).toBe(409);
    }
  });
});
