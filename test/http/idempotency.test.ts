import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * `Idempotency-Key` on the routes that create jobs: the same key with the same request answers with
 * the job the first one created, whatever its state; the same key with another request is refused;
 * a malformed key is a 400. Run on both deployments.
 */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: '0' });
  await hub.addRepo({ id: 'idem/repo', files: [{ path: 'config.json', content: '{"idem":1}' }] });
  const registered = await t.request('POST', '/v1/hub/register', {
    vendor: 'Idem',
    name: 'Repo',
    source_repo_id: 'idem/repo',
  });
  expect(registered.status).toBe(201);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

function post(url: string, payload: object, key?: string) {
  return t.app.http.inject({
    method: 'POST',
    url,
    payload,
    ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }),
  });
}

async function jobCount(type: string): Promise<number> {
  const page = await t.request('GET', `/v1/hub/jobs?type=${type}&limit=200`);
  return page.body.items.length;
}

describe(`Idempotency-Key (${BACKEND})`, () => {
  it('answers the same key and request with the same job, before and after it finished', async () => {
    const before = await jobCount('sync');
    const first = await post('/v1/hub/sync', { repo_id: 'idem/repo' }, 'sync-1');
    expect(first.statusCode).toBe(202);
    expect(first.json().message).toBe('Sync job queued');
    const jobId = first.json().job_id;

    const again = await post('/v1/hub/sync', { repo_id: 'idem/repo' }, 'sync-1');
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({
      job_id: jobId,
      message: 'Joined the sync job created earlier with this Idempotency-Key',
    });
    expect((await t.waitForJob(jobId)).status).toBe('completed');

    const late = await post('/v1/hub/sync', { repo_id: 'idem/repo' }, 'sync-1');
    expect(late.statusCode).toBe(202);
    expect(late.json()).toMatchObject({ job_id: jobId, status: 'completed' });
    expect(await jobCount('sync')).toBe(before + 1);

    // A new key is a new request: with the sync finished, a new job.
    const fresh = await post('/v1/hub/sync', { repo_id: 'idem/repo' }, 'sync-2');
    expect(fresh.json().job_id).not.toBe(jobId);
    await t.waitForJob(fresh.json().job_id);
  });

  it('creates one job for concurrent requests with one key, where nothing else would join them', async () => {
    const before = await jobCount('gc');
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => post('/v1/hub/gc', { dry_run: true }, 'gc-burst')),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(202));
    const ids = new Set(answers.map((a) => a.json().job_id));
    expect(ids.size).toBe(1);
    expect(await jobCount('gc')).toBe(before + 1);
    expect((await t.waitForJob([...ids][0] as string)).status).toBe('completed');
    // Without a key, gc requests are not joined: each is a job.
    const plain = await Promise.all([
      post('/v1/hub/gc', { dry_run: true }),
      post('/v1/hub/gc', { dry_run: true }),
    ]);
    expect(plain[0]?.json().job_id).not.toBe(plain[1]?.json().job_id);
    for (const p of plain) await t.waitForJob(p.json().job_id);
  });

  it('fingerprints the body canonically: field order and defaults do not matter', async () => {
    const first = await post('/v1/hub/scan', { repo_id: 'idem/repo', deep: true }, 'scan-order');
    const reordered = await post('/v1/hub/scan', { deep: true, repo_id: 'idem/repo' }, 'scan-order');
    expect(first.statusCode).toBe(202);
    expect(reordered.json().job_id).toBe(first.json().job_id);
    const defaulted = await post('/v1/hub/gc', {}, 'gc-default');
    const explicit = await post('/v1/hub/gc', { dry_run: true }, 'gc-default');
    expect(explicit.json().job_id).toBe(defaulted.json().job_id);
    await t.waitForJob(first.json().job_id);
    await t.waitForJob(defaulted.json().job_id);
  });

  it('refuses the same key with another body or on another route with 409 IDEMPOTENCY_KEY_REUSED', async () => {
    const first = await post('/v1/hub/gc', { dry_run: true }, 'reused-key');
    expect(first.statusCode).toBe(202);
    const before = await jobCount('gc');
    for (const [url, body] of [
      ['/v1/hub/gc', { dry_run: false }],
      ['/v1/hub/scan', { deep: false }],
      ['/v1/hub/sync', { repo_id: 'idem/repo' }],
    ] as const) {
      const refused = await post(url, body, 'reused-key');
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toEqual({
        error: {
          code: 'IDEMPOTENCY_KEY_REUSED',
          message:
            'Idempotency-Key was already used for a different request; use a new key for a new request',
          request_id: refused.headers['x-request-id'],
        },
      });
    }
    expect(await jobCount('gc')).toBe(before);
    await t.waitForJob(first.json().job_id);
  });

  it('refuses a key that is empty, longer than 255 characters or not visible ASCII with 400', async () => {
    const before = await jobCount('gc');
    for (const key of ['', 'k'.repeat(256), 'has space', 'tab\there', 'clé']) {
      const refused = await post('/v1/hub/gc', { dry_run: true }, key);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.code).toBe('VALIDATION_FAILED');
      expect(refused.json().error.message).toContain('headers.idempotency-key');
    }
    expect(await jobCount('gc')).toBe(before);
    const longest = `~!${'K'.repeat(253)}`;
    const accepted = await post('/v1/hub/gc', { dry_run: true }, longest);
    expect(accepted.statusCode).toBe(202);
    await t.waitForJob(accepted.json().job_id);
  });

  it('documents the header on every route that creates a job', async () => {
    const doc = (await t.request('GET', '/docs/json')).body;
    for (const path of ['/v1/hub/sync', '/v1/hub/download', '/v1/hub/scan', '/v1/hub/gc', '/v1/hub/import']) {
      const parameters: any[] = doc.paths[path].post.parameters ?? [];
      const header = parameters.find((p) => p.in === 'header' && p.name === 'idempotency-key');
      expect(header, path).toBeDefined();
      expect(header.required).toBeFalsy();
      expect(header.schema).toMatchObject({ minLength: 1, maxLength: 255 });
    }
  });
});
