import { afterAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { type BaseRequest, type HostileCase, hostileCases, routesOf } from '../support/hostile-cases.js';
import {
  asRawRequest,
  controlRefusalProblems,
  dataSnapshot,
  rawRequest,
  refusalProblems,
} from '../support/hostile-requests.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Hostile input at every route of the API (from its own OpenAPI document) and /metrics: each case
 * is a 4xx in the error shape, never a 5xx or a hang; afterwards the server still answers and the
 * database and the store are exactly as before.
 */
const REPO = 'hostile/target';
const ANSWER_TIMEOUT_MS = 5000;

const hub: FakeHub = await startFakeHub();
const t: TestApp = await startTestApp(hub.url, {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  RATE_LIMIT_WRITES_PER_MINUTE: '0',
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

// Real data to destroy: a synced, downloaded repo (blobs and metadata in the store) and a webhook.
await hub.addRepo({
  id: REPO,
  files: [
    { path: 'config.json', content: '{"hostile":true}' },
    { path: 'model.safetensors', content: { size: 64 * 1024, seed: 'hostile' } },
  ],
});
const { model, job: syncJob } = await registerAndSync(t, REPO, 'Hostile', 'Target');
const download = await t.request('POST', '/v1/hub/download', { repo_id: REPO });
const downloaded = await t.waitForJob(download.body.job_id);
const webhook = await t.request('POST', '/v1/hub/webhooks', {
  url: 'http://127.0.0.1:9/hook',
  events: ['job.completed'],
});
const before = await dataSnapshot(t);

/**
 * What each route's cases start from. A body here may be valid (the real repo, the real model):
 * every case changes one thing to something that must be refused. Where a hostile value could be
 * acceptable text (a webhook secret, a key name), the base fails on its own at the last step.
 */
function baseFor(method: string, path: string): BaseRequest | undefined {
  const params: Record<string, string> = { job_id: syncJob.id };
  if (path.startsWith('/v1/hub/models/')) params.id = model.id;
  if (path.startsWith('/v1/hub/webhooks/')) params.id = webhook.body.id;
  const bodies: Record<string, unknown> = {
    'POST /v1/hub/register': { vendor: 'Probe', name: 'Probe', source_repo_id: REPO }, // 409 at best
    'POST /v1/hub/sync': { repo_id: REPO },
    'POST /v1/hub/download': { repo_id: 'probe/unregistered', include: ['*.json'] }, // 404 at best
    'POST /v1/hub/import': { path: '/nonexistent/probe', repo_id: 'probe/unregistered' },
    'PATCH /v1/hub/models/{id}': { pinned: true },
    'POST /v1/hub/webhooks': { url: 'http://127.0.0.1:9/hook', events: ['no.such.event'] },
    'POST /v1/hub/scan': { repo_id: 'probe/unregistered' },
    'POST /v1/hub/gc': { dry_run: true },
    'POST /v1/hub/keys': { scope: 'nobody' },
  };
  const key = `${method} ${path}`;
  return { params, ...(key in bodies ? { body: bodies[key] } : {}) };
}

const doc = await t.request('GET', '/docs/json');
const routes = [
  ...routesOf(doc.body),
  { method: 'GET', path: '/metrics', pathParams: [], query: {}, headers: [], body: undefined },
];
const counts = new Map<string, number>();
let baseUrl: string | undefined;

async function answer(c: HostileCase) {
  if (c.overSocket) {
    baseUrl ??= await t.listen();
    return rawRequest(baseUrl, asRawRequest(c.request), ANSWER_TIMEOUT_MS);
  }
  const response = await Promise.race([
    t.app.http.inject(c.request),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS),
    ),
  ]);
  return { status: response.statusCode, body: response.body, headers: response.headers };
}

/** Over a real socket: what Node's HTTP parser refuses before Fastify sees a request. */
function socketCases(method: string, url: string): [string, string, number][] {
  const host = 'Host: 127.0.0.1\r\n';
  return [
    ['headers of 32 KB', `${method} ${url} HTTP/1.1\r\n${host}X-Pad: ${'h'.repeat(32 * 1024)}\r\n\r\n`, 431],
    ['URL of 100 KB', `${method} ${url}?pad=${'u'.repeat(100_000)} HTTP/1.1\r\n${host}\r\n`, 414],
    ['control character in a header', `${method} ${url} HTTP/1.1\r\n${host}X-Evil: a\u0001b\r\n\r\n`, 400],
    ['NUL in the request line', `${method} ${url}\u0000 HTTP/1.1\r\n${host}\r\n`, 400],
    ['header without a colon', `${method} ${url} HTTP/1.1\r\n${host}no colon here\r\n\r\n`, 400],
  ];
}

describe(`hostile input (${BACKEND})`, () => {
  it('has the data it must not destroy, and a route table to attack', () => {
    expect(downloaded.status).toBe('completed');
    expect(webhook.status).toBe(201);
    expect(before.models).toHaveLength(1);
    expect(before.artifacts).toHaveLength(2);
    expect(before.files.some((f) => f.startsWith('blobs/sha256/'))).toBe(true);
    expect(routes.length).toBeGreaterThanOrEqual(20);
  });

  for (const route of routes) {
    const name = `${route.method} ${route.path}`;
    it(`refuses hostile input at ${name}`, async () => {
      const cases = hostileCases(route, baseFor(route.method, route.path));
      const failures: string[] = [];
      for (const c of cases) {
        try {
          const reply = await answer(c);
          const problems = refusalProblems(reply, c.echoProbe);
          if (c.controlCharacterIn !== undefined)
            problems.push(...controlRefusalProblems(reply, c.controlCharacterIn));
          if (problems.length > 0) failures.push(`${c.label}: ${problems.join(', ')}`);
        } catch (error) {
          failures.push(`${c.label}: ${(error as Error).message}`);
        }
      }
      baseUrl ??= await t.listen();
      const url = cases[0]?.request.url ?? route.path;
      const sockets = socketCases(route.method, String(url).split('?')[0] ?? '/');
      for (const [label, bytes, status] of sockets) {
        const reply = await rawRequest(baseUrl, bytes);
        const problems = refusalProblems(reply);
        if (reply.status !== status) problems.push(`status ${reply.status}, expected ${status}`);
        if (problems.length > 0) failures.push(`socket ${label}: ${problems.join(', ')}`);
      }
      counts.set(name, cases.length + sockets.length);
      expect(failures).toEqual([]);
      // Still answering after each route's barrage.
      expect((await t.request('GET', '/healthz')).status).toBe(200);
    });
  }

  it('leaves the server answering and the database and the store as they were', async () => {
    expect((await t.request('GET', '/healthz')).status).toBe(200);
    expect((await t.request('GET', `/v1/hub/models/${model.id}`)).body.pinned).toBe(false);
    const after = await dataSnapshot(t);
    expect(after.models).toEqual(before.models);
    expect(after.artifacts).toEqual(before.artifacts);
    expect(after.webhooks).toEqual(before.webhooks);
    expect(after.jobs).toEqual(before.jobs);
    expect(after.files).toEqual(before.files);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    for (const [route, count] of counts) console.log(`hostile cases [${BACKEND}] ${count}\t${route}`);
    console.log(`hostile cases [${BACKEND}] ${total}\tTOTAL over ${counts.size} routes`);
    expect(counts.size).toBe(routes.length);
  });
});
