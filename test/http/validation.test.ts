import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  // Registering checks upstream: the repo this file registers exists there.
  await hub.addRepo({ id: 'acme/widget', files: [{ path: 'config.json', content: '{}' }] });
  t = await startTestApp(hub.url);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const register = (body: unknown) => t.request('POST', '/v1/hub/register', body);

function expectError(response: { status: number; body: any }, status: number, code: string, text?: string) {
  expect(response.status).toBe(status);
  expect(response.body.error.code).toBe(code);
  expect(typeof response.body.error.message).toBe('string');
  expect(response.body.error.request_id).toMatch(/^[0-9a-f-]{36}$/);
  if (text) expect(response.body.error.message).toContain(text);
  expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

describe('POST /v1/hub/register', () => {
  it('registers a repo with defaults, and refuses the same repo_id again with 409', async () => {
    const created = await register({ vendor: 'Acme', name: 'Widget', source_repo_id: 'acme/widget' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      vendor: 'Acme',
      name: 'Widget',
      repo_id: 'acme/widget',
      revision: 'main',
      status: 'registered',
    });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.sync_job_id).toBeUndefined();
    expectError(
      await register({ vendor: 'Other', name: 'Name', source_repo_id: 'acme/widget' }),
      409,
      'REPO_ALREADY_REGISTERED',
      'acme/widget',
    );
  });

  it.each([
    ['acme', 'exactly "owner/name"'],
    ['acme/../etc', 'exactly "owner/name"'],
    ['../acme', '".." or "--"'],
    ['acme//x', 'exactly'],
    ['acme/x/y', 'exactly'],
    ['acme/sp ace', 'letters, digits'],
    ['/acme', 'empty part'],
  ])('refuses source_repo_id %j with 400 INVALID_REPO_ID', async (repoId, text) => {
    expectError(
      await register({ vendor: 'A', name: 'B', source_repo_id: repoId }),
      400,
      'INVALID_REPO_ID',
      text,
    );
  });

  it.each([
    [{ vendor: 'A', name: 'B' }, 'source_repo_id is required'],
    [{ vendor: 'A', name: 'B', source_repo_id: 42 }, 'source_repo_id must be string'],
    [{ vendor: 'A', name: 'B', source_repo_id: 'a/b', auto_sync: 'yes' }, 'auto_sync must be boolean'],
    [{ vendor: 'A', name: 'B', source_repo_id: 'a/b', extra: 1 }, 'unknown field "extra"'],
    [{ vendor: '', name: 'B', source_repo_id: 'a/b' }, 'vendor must NOT have fewer than 1 characters'],
    [[1, 2], 'must be object'],
  ])('refuses %j with 400 VALIDATION_FAILED', async (body, text) => {
    expectError(await register(body), 400, 'VALIDATION_FAILED', text);
  });

  it('refuses a vendor that could not be a folder name', async () => {
    expectError(
      await register({ vendor: '..', name: 'B', source_repo_id: 'a/c' }),
      400,
      'VALIDATION_FAILED',
      'vendor',
    );
  });

  it('answers malformed JSON, a wrong content type and an oversized body with 4xx', async () => {
    const malformed = await t.app.http.inject({
      method: 'POST',
      url: '/v1/hub/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"vendor": ',
    });
    expectError({ status: malformed.statusCode, body: malformed.json() }, 400, 'MALFORMED_JSON');
    const text = await t.app.http.inject({
      method: 'POST',
      url: '/v1/hub/register',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expectError({ status: text.statusCode, body: text.json() }, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const big = await register({
      vendor: 'A',
      name: 'B',
      source_repo_id: 'a/b',
      pad: 'x'.repeat(2 * 1024 * 1024),
    });
    expectError(big, 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('POST /v1/hub/sync and /v1/hub/download', () => {
  it('404s an unregistered repo', async () => {
    expectError(
      await t.request('POST', '/v1/hub/sync', { repo_id: 'nobody/nothing' }),
      404,
      'REPO_NOT_FOUND',
      'nobody/nothing',
    );
  });

  it('400s an empty list and malformed ids, 404s unknown ids by name', async () => {
    expectError(
      await t.request('POST', '/v1/hub/download', { artifact_ids: [] }),
      400,
      'VALIDATION_FAILED',
      'artifact_ids',
    );
    expectError(
      await t.request('POST', '/v1/hub/download', { artifact_ids: ['not-a-uuid'] }),
      400,
      'VALIDATION_FAILED',
      'uuid',
    );
    const unknown = '00000000-0000-4000-8000-000000000001';
    expectError(
      await t.request('POST', '/v1/hub/download', { artifact_ids: [unknown] }),
      404,
      'ARTIFACT_NOT_FOUND',
      unknown,
    );
  });
});

describe('jobs and models', () => {
  it('400s malformed ids and 404s unknown ones', async () => {
    expectError(await t.request('GET', '/v1/hub/jobs/123'), 400, 'VALIDATION_FAILED', 'job_id');
    expectError(
      await t.request('GET', '/v1/hub/jobs/00000000-0000-4000-8000-000000000000'),
      404,
      'JOB_NOT_FOUND',
    );
    expectError(await t.request('GET', '/v1/hub/models/nope'), 400, 'VALIDATION_FAILED');
    expectError(
      await t.request('GET', '/v1/hub/models/00000000-0000-4000-8000-000000000000/artifacts'),
      404,
      'REPO_NOT_FOUND',
    );
  });

  it('400s bad filters and cursors', async () => {
    expectError(await t.request('GET', '/v1/hub/jobs?status=done'), 400, 'VALIDATION_FAILED', 'status');
    expectError(await t.request('GET', '/v1/hub/jobs?limit=0'), 400, 'VALIDATION_FAILED', 'limit');
    expectError(await t.request('GET', '/v1/hub/jobs?limit=abc'), 400, 'VALIDATION_FAILED', 'limit');
    expectError(await t.request('GET', '/v1/hub/jobs?cursor=garbage'), 400, 'VALIDATION_FAILED', 'cursor');
    expectError(await t.request('GET', '/v1/hub/jobs?colour=red'), 400, 'VALIDATION_FAILED', 'colour');
  });

  it('answers unknown routes in the same error shape', async () => {
    expectError(await t.request('GET', '/v1/hub/nothing-here'), 404, 'NOT_FOUND', '/v1/hub/nothing-here');
  });

  it('serves the OpenAPI document', async () => {
    const doc = await t.request('GET', '/docs/json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/hub/register',
        '/v1/hub/sync',
        '/v1/hub/download',
        '/v1/hub/jobs/{job_id}',
      ]),
    );
    // Every operation documents its success answer, the event streams included.
    for (const [route, operations] of Object.entries(doc.body.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        const success = Object.keys(operation.responses ?? {}).filter((status) => /^2\d\d$/.test(status));
        expect(success, `${method.toUpperCase()} ${route}`).not.toEqual([]);
      }
    }
    expect(doc.body.paths['/v1/hub/events'].get.responses['200'].content['text/event-stream']).toBeDefined();
  });
});
