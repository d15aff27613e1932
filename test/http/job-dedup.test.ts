import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * One active job per piece of work, decided by the database's unique index rather than a
 * check-then-insert: concurrent requests for the same sync (or download set, or scan) join one job,
 * and only that job gets a `job.created` event. Run on both deployments.
 */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: '0' });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const sync = (repoId: string) =>
  t.app.http.inject({ method: 'POST', url: '/v1/hub/sync', payload: { repo_id: repoId } });

async function eventCount(type: 'job.created' | 'job.failed', jobId?: string): Promise<number> {
  let query = t.app.db.selectFrom('events').select('seq').where('type', '=', type);
  if (jobId !== undefined) query = query.where('jobId', '=', jobId);
  return (await query.execute()).length;
}

async function jobsOf(type: string): Promise<any[]> {
  const page = await t.request('GET', `/v1/hub/jobs?type=${type}&limit=200`);
  expect(page.status).toBe(200);
  return page.body.items;
}

describe(`one active job per piece of work (${BACKEND})`, () => {
  it('joins 100 concurrent syncs of one repo into one job, which asks upstream once', async () => {
    const repoId = 'dedup/burst';
    await hub.addRepo({
      id: repoId,
      files: [
        { path: 'config.json', content: '{"burst":1}' },
        { path: 'slow.json', content: '{"slow":true}' },
      ],
    });
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Dedup',
      name: 'Burst',
      source_repo_id: repoId,
    });
    expect(registered.status).toBe(201);
    // A metadata file answering 503 with Retry-After: 1 once keeps the sync running past the burst, so
    // every request finds it active (one that came after it finished would rightly start another).
    hub.addFault({ filePath: 'slow.json', status: 503, retryAfterSeconds: 1 });
    hub.resetRequests();
    const failedBefore = await eventCount('job.failed');

    const answers = await Promise.all(Array.from({ length: 100 }, () => sync(repoId)));

    expect(answers.map((a) => a.statusCode)).toEqual(Array(100).fill(202));
    const bodies = answers.map((a) => a.json());
    const ids = new Set(bodies.map((b) => b.job_id));
    console.log(`[${BACKEND}] 100 concurrent POST /v1/hub/sync of one repo created ${ids.size} job(s)`);
    expect(ids.size).toBe(1);
    const messages = bodies.map((b) => b.message).sort();
    expect(messages.filter((m) => m === 'Sync job queued')).toHaveLength(1);
    expect(messages.filter((m) => m === 'Joined the sync job already queued')).toHaveLength(99);

    const jobId = [...ids][0] as string;
    const job = await t.waitForJob(jobId);
    expect(job.status).toBe('completed');
    expect(job.error).toBeNull();
    const modelInfo = hub.requests.filter(
      (r) => r.path === `/api/models/${repoId}` || r.path.startsWith(`/api/models/${repoId}/revision/`),
    );
    console.log(`[${BACKEND}] model-info calls upstream for that repo: ${modelInfo.length}`);
    expect(modelInfo).toHaveLength(1);
    expect((await jobsOf('sync')).filter((j) => j.payload.repo_id === repoId).map((j) => j.id)).toEqual([
      jobId,
    ]);
    expect(await eventCount('job.created', jobId)).toBe(1);
    expect(await eventCount('job.failed')).toBe(failedBefore);
    const model = await t.request('GET', `/v1/hub/models/${registered.body.id}`);
    expect(model.body.status).toBe('synced');

    // Once it finished, a new sync is a new job.
    const again = await sync(repoId);
    expect(again.statusCode).toBe(202);
    expect(again.json().job_id).not.toBe(jobId);
    expect((await t.waitForJob(again.json().job_id)).status).toBe('completed');
  });

  it('joins a download of the same artifact set (in any order) while it is active, and not another set', async () => {
    const repoId = 'dedup/files';
    await hub.addRepo({
      id: repoId,
      files: [
        { path: 'config.json', content: '{"files":1}' },
        { path: 'model.safetensors', content: { size: 64 * 1024, seed: 'dedup-files' } },
      ],
    });
    const { artifacts } = await registerAndSync(t, repoId, 'Dedup', 'Files');
    const config = artifacts.get('config.json').id as string;
    const weights = artifacts.get('model.safetensors').id as string;
    // Retry-After: 1 on the weights keeps the first download active while the others arrive.
    hub.addFault({ filePath: 'model.safetensors', status: 503, retryAfterSeconds: 1 });

    const first = await t.request('POST', '/v1/hub/download', { artifact_ids: [config, weights] });
    const reordered = await t.request('POST', '/v1/hub/download', {
      artifact_ids: [weights, config, weights],
    });
    const byRepo = await t.request('POST', '/v1/hub/download', { repo_id: repoId });
    const other = await t.request('POST', '/v1/hub/download', { artifact_ids: [config] });

    expect(first).toMatchObject({ status: 202, body: { message: 'Download job queued for 2 artifact(s)' } });
    expect(reordered.body).toMatchObject({
      job_id: first.body.job_id,
      message: 'Joined the download job already queued for 2 artifact(s)',
    });
    expect(byRepo.body.job_id).toBe(first.body.job_id);
    expect(other.status).toBe(202);
    expect(other.body.job_id).not.toBe(first.body.job_id);
    expect((await t.waitForJob(first.body.job_id)).status).toBe('completed');
    expect((await t.waitForJob(other.body.job_id)).status).toBe('completed');
    expect(await eventCount('job.created', first.body.job_id)).toBe(1);
  });
});
