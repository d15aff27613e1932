import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
  await hub.addRepo({ id: 'org/listed', files: [{ path: 'config.json', content: '{}' }] });
  await t.request('POST', '/v1/hub/register', {
    vendor: 'Org',
    name: 'Listed',
    source_repo_id: 'org/listed',
  });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('GET /v1/hub/jobs', () => {
  it('pages newest first with a cursor and filters by status and type', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const queued = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/listed' });
      ids.push(queued.body.job_id);
      await t.waitForJob(queued.body.job_id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await t.request(
        'GET',
        `/v1/hub/jobs?type=sync&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((j: any) => j.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const completed = await t.request('GET', '/v1/hub/jobs?status=completed&type=sync&limit=200');
    expect(completed.body.items.map((j: any) => j.id).sort()).toEqual([...ids].sort());
    expect((await t.request('GET', '/v1/hub/jobs?status=failed')).body.items).toEqual([]);
    expect((await t.request('GET', '/v1/hub/jobs?type=download')).body).toEqual({
      items: [],
      next_cursor: null,
    });
  });

  it('shows a job with its payload, result, timestamped logs and timings', async () => {
    const queued = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/listed' });
    await t.waitForJob(queued.body.job_id);
    const job = await t.request('GET', `/v1/hub/jobs/${queued.body.job_id}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      id: queued.body.job_id,
      type: 'sync',
      status: 'completed',
      payload: { repo_id: 'org/listed' },
      result: { files: 1 },
      error: null,
      attempts: 1,
    });
    expect(job.body.logs[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z Resolved org\/listed@main to commit [0-9a-f]{40}$/,
    );
    expect(Date.parse(job.body.finished_at)).toBeGreaterThanOrEqual(Date.parse(job.body.started_at));
  });

  it('joins a second sync request to the one already queued for that repo', async () => {
    // A new metadata file that answers 503 once with Retry-After: 1 keeps the first sync busy for a second.
    await hub.pushCommit('org/listed', [
      { path: 'config.json', content: '{}' },
      { path: 'slow.json', content: '{"slow":true}' },
    ]);
    hub.addFault({ filePath: 'slow.json', status: 503, retryAfterSeconds: 1 });
    const first = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/listed' });
    const second = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/listed' });
    expect(second.status).toBe(202);
    expect(second.body).toEqual({
      job_id: first.body.job_id,
      status: expect.any(String),
      message: 'Joined the sync job already queued',
    });
    expect((await t.waitForJob(first.body.job_id)).status).toBe('completed');
    const third = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/listed' });
    expect(third.body.job_id).not.toBe(first.body.job_id);
    await t.waitForJob(third.body.job_id);
  });
});
