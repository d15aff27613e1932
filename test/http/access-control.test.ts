import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * The access-control matrix: every route the server has (read from its own OpenAPI document, plus
 * the hidden operations routes) × every kind of caller. A route added without a sample request here
 * fails the test, so none can be left out.
 */
type Caller = 'none' | 'unknown' | 'read' | 'write' | 'admin';
const CALLERS: Caller[] = ['none', 'unknown', 'read', 'write', 'admin'];
const RANK = { read: 0, write: 1, admin: 2 } as const;
type Scope = keyof typeof RANK;

interface Sample {
  path: string;
  body?: unknown;
  /** The answer when the caller may use the route. */
  ok: number;
  /** An event stream: only the status line is read, then the request is aborted. */
  stream?: boolean;
  /** A Hugging Face–compatible route: refusals come in the hub's error shape. */
  hf?: boolean;
}

let hub: FakeHub;
let t: TestApp;
let base: string;
let receiver: WebhookReceiver;
let importRoot: string;
const keys = {} as Record<'read' | 'write' | 'admin', string>;
const UNKNOWN_KEY = `mh_${'x'.repeat(43)}`;
let model: { id: string; repo_id: string };
let syncJobId: string;
let webhookId: string;
let deliveryId: string;
let counter = 0;

async function call(
  method: string,
  url: string,
  options: { key?: string | undefined; body?: unknown; stream?: boolean; host?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const controller = new AbortController();
  const response = await fetch(`${base}${url}`, {
    method,
    signal: controller.signal,
    headers: {
      ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.host ? { host: options.host } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  if (options.stream && response.status === 200) {
    controller.abort();
    return { status: response.status, body: undefined, headers: response.headers };
  }
  const text = await response.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // /metrics is text.
  }
  return { status: response.status, body, headers: response.headers };
}

const admin = (method: string, url: string, body?: unknown) => call(method, url, { key: keys.admin, body });

/** A request each route accepts from a caller with its scope; destructive ones get a fresh target. */
const SAMPLES: Record<string, () => Promise<Sample>> = {
  'POST /v1/hub/register': async () => ({
    path: '/v1/hub/register',
    // About scopes, not upstream: these repos are not on the fake hub.
    body: { vendor: 'Acl', name: `n${++counter}`, source_repo_id: `acl/reg-${counter}`, verify: false },
    ok: 201,
  }),
  'POST /v1/hub/sync': async () => ({ path: '/v1/hub/sync', body: { repo_id: model.repo_id }, ok: 202 }),
  'POST /v1/hub/download': async () => ({
    path: '/v1/hub/download',
    body: { repo_id: model.repo_id, include: ['*.json'] },
    ok: 202,
  }),
  'POST /v1/hub/import': async () => ({
    path: '/v1/hub/import',
    body: { path: importRoot, repo_id: model.repo_id },
    ok: 202,
  }),
  'GET /v1/hub/jobs': async () => ({ path: '/v1/hub/jobs', ok: 200 }),
  'GET /v1/hub/jobs/{job_id}': async () => ({ path: `/v1/hub/jobs/${syncJobId}`, ok: 200 }),
  'GET /v1/hub/jobs/{job_id}/logs': async () => ({ path: `/v1/hub/jobs/${syncJobId}/logs`, ok: 200 }),
  'GET /v1/hub/jobs/{job_id}/events': async () => ({
    path: `/v1/hub/jobs/${syncJobId}/events`,
    ok: 200,
    stream: true,
  }),
  // A completed job can be neither cancelled nor retried: 409 once the scope lets the caller ask.
  'POST /v1/hub/jobs/{job_id}/cancel': async () => ({ path: `/v1/hub/jobs/${syncJobId}/cancel`, ok: 409 }),
  'POST /v1/hub/jobs/{job_id}/retry': async () => ({ path: `/v1/hub/jobs/${syncJobId}/retry`, ok: 409 }),
  'GET /v1/hub/events': async () => ({ path: '/v1/hub/events', ok: 200, stream: true }),
  'GET /v1/hub/whoami': async () => ({ path: '/v1/hub/whoami', ok: 200 }),
  'GET /v1/hub/models': async () => ({ path: '/v1/hub/models', ok: 200 }),
  'GET /v1/hub/models/{id}': async () => ({ path: `/v1/hub/models/${model.id}`, ok: 200 }),
  'PATCH /v1/hub/models/{id}': async () => ({
    path: `/v1/hub/models/${model.id}`,
    body: { pinned: true },
    ok: 200,
  }),
  'DELETE /v1/hub/models/{id}': async () => {
    const created = await admin('POST', '/v1/hub/register', {
      vendor: 'Acl',
      name: `d${++counter}`,
      source_repo_id: `acl/del-${counter}`,
      verify: false,
    });
    return { path: `/v1/hub/models/${created.body.id}`, ok: 200 };
  },
  'GET /v1/hub/models/{id}/artifacts': async () => ({
    path: `/v1/hub/models/${model.id}/artifacts`,
    ok: 200,
  }),
  'POST /v1/hub/scan': async () => ({ path: '/v1/hub/scan', body: {}, ok: 202 }),
  'POST /v1/hub/gc': async () => ({ path: '/v1/hub/gc', body: {}, ok: 202 }),
  'GET /v1/hub/storage': async () => ({ path: '/v1/hub/storage', ok: 200 }),
  'POST /v1/hub/webhooks': async () => ({
    path: '/v1/hub/webhooks',
    body: { url: receiver.url, events: ['model.synced'] },
    ok: 201,
  }),
  'GET /v1/hub/webhooks': async () => ({ path: '/v1/hub/webhooks', ok: 200 }),
  'GET /v1/hub/webhooks/{id}': async () => ({ path: `/v1/hub/webhooks/${webhookId}`, ok: 200 }),
  'DELETE /v1/hub/webhooks/{id}': async () => {
    const created = await admin('POST', '/v1/hub/webhooks', { url: receiver.url, events: ['job.failed'] });
    return { path: `/v1/hub/webhooks/${created.body.id}`, ok: 204 };
  },
  'GET /v1/hub/webhooks/{id}/deliveries': async () => ({
    path: `/v1/hub/webhooks/${webhookId}/deliveries`,
    ok: 200,
  }),
  'POST /v1/hub/webhooks/{id}/deliveries/{delivery_id}/redeliver': async () => {
    // A delivery being sent (pending) cannot be redelivered; wait for the previous one to land.
    await waitFor('delivery settled', async () => {
      const { body } = await admin('GET', `/v1/hub/webhooks/${webhookId}/deliveries`);
      return body.items.every((d: any) => d.status !== 'pending') ? true : undefined;
    });
    return { path: `/v1/hub/webhooks/${webhookId}/deliveries/${deliveryId}/redeliver`, ok: 202 };
  },
  'POST /v1/hub/keys': async () => ({
    path: '/v1/hub/keys',
    body: { scope: 'read', name: 'matrix' },
    ok: 201,
  }),
  'GET /v1/hub/keys': async () => ({ path: '/v1/hub/keys', ok: 200 }),
  'DELETE /v1/hub/keys/{key}': async () => {
    const created = await admin('POST', '/v1/hub/keys', { scope: 'read' });
    return { path: `/v1/hub/keys/${created.body.id}`, ok: 200 };
  },
};

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({
    id: 'org/guarded',
    files: [
      { path: 'config.json', content: '{"model_type":"bert"}' },
      { path: 'model.safetensors', content: { size: 2048, seed: 'guarded' } },
    ],
  });
  importRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-acl-import-'));
  await fs.writeFile(path.join(importRoot, 'config.json'), '{"model_type":"bert"}');
  receiver = await startWebhookReceiver();
  t = await startTestApp(hub.url, { IMPORT_ROOTS: importRoot });
  base = await t.listen();

  // While no key exists a loopback hub is open: the first admin key can be made through the API.
  for (const scope of ['admin', 'read', 'write'] as const) {
    const created = await call('POST', '/v1/hub/keys', {
      body: { scope, name: `${scope}-matrix` },
      key: keys.admin,
    });
    expect(created.status).toBe(201);
    keys[scope] = created.body.key;
  }
  const registered = await admin('POST', '/v1/hub/register', {
    vendor: 'Org',
    name: 'Guarded',
    source_repo_id: 'org/guarded',
  });
  model = registered.body;
  const hook = await admin('POST', '/v1/hub/webhooks', { url: receiver.url, events: ['model.synced'] });
  webhookId = hook.body.id;
  const sync = await admin('POST', '/v1/hub/sync', { repo_id: model.repo_id });
  syncJobId = sync.body.job_id;
  await waitFor('sync done', async () => {
    const { body } = await admin('GET', `/v1/hub/jobs/${syncJobId}`);
    return body.status === 'completed' ? body : undefined;
  });
  deliveryId = await waitFor('a settled delivery', async () => {
    const { body } = await admin('GET', `/v1/hub/webhooks/${webhookId}/deliveries`);
    const settled = body.items.find((d: any) => d.status === 'succeeded');
    return settled?.id as string | undefined;
  });
});

afterAll(async () => {
  await t?.close();
  await receiver?.close();
  await hub?.close();
  if (importRoot) await fs.rm(importRoot, { recursive: true, force: true });
});

function expectErrorShape(response: { status: number; body: any }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.body.error.code).toBe(code);
  expect(typeof response.body.error.message).toBe('string');
  expect(response.body.error.request_id).toMatch(/^[0-9a-f-]{36}$/);
}

describe('access-control matrix', () => {
  it('gives every route, for every caller, exactly the answer its declared scope allows', async () => {
    const spec = (await call('GET', '/docs/json')).body;
    const routes: { method: string; url: string; scope: Scope | 'public' }[] = [];
    for (const [url, operations] of Object.entries<Record<string, any>>(spec.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        if (method === 'head') continue;
        const scope = operation.security?.[0]?.apiKey?.[0] as Scope | undefined;
        expect(scope, `${method.toUpperCase()} ${url} documents no scope`).toBeDefined();
        routes.push({ method: method.toUpperCase(), url, scope: scope as Scope });
      }
    }
    // Hidden from the OpenAPI document: the probes stay open, metrics need a read key.
    routes.push({ method: 'GET', url: '/metrics', scope: 'read' });
    routes.push({ method: 'GET', url: '/healthz', scope: 'public' });
    routes.push({ method: 'GET', url: '/readyz', scope: 'public' });
    SAMPLES['GET /metrics'] = async () => ({ path: '/metrics', ok: 200 });
    SAMPLES['GET /healthz'] = async () => ({ path: '/healthz', ok: 200 });
    SAMPLES['GET /readyz'] = async () => ({ path: '/readyz', ok: 200 });
    // Hidden as well: the Hugging Face–compatible routes, for `owner/name` and for a legacy
    // one-part id (which the hub never holds: 404 once the caller is let in).
    const one = model.repo_id.split('/')[1];
    const mirror: [string, string, string, number, unknown?][] = [
      ['GET', '/api/models/{namespace}/{repo}', `/api/models/${model.repo_id}`, 200],
      ['GET', '/api/models/{repo}', `/api/models/${one}`, 404],
      ['GET', '/api/models/{namespace}/{repo}/revision/*', `/api/models/${model.repo_id}/revision/main`, 200],
      ['GET', '/api/models/{repo}/revision/*', `/api/models/${one}/revision/main`, 404],
      ['GET', '/api/models/{namespace}/{repo}/tree/*', `/api/models/${model.repo_id}/tree/main`, 200],
      ['GET', '/api/models/{repo}/tree/*', `/api/models/${one}/tree/main`, 404],
      [
        'POST',
        '/api/models/{namespace}/{repo}/paths-info/*',
        `/api/models/${model.repo_id}/paths-info/main`,
        200,
        { paths: ['config.json'] },
      ],
      [
        'POST',
        '/api/models/{repo}/paths-info/*',
        `/api/models/${one}/paths-info/main`,
        404,
        { paths: ['config.json'] },
      ],
      ['GET', '/{namespace}/{repo}/resolve/*', `/${model.repo_id}/resolve/main/config.json`, 200],
      ['GET', '/{repo}/resolve/*', `/${one}/resolve/main/config.json`, 404],
    ];
    for (const [method, url, path, ok, body] of mirror) {
      const registered = url.replace(/\{(\w+)\}/g, ':$1');
      expect(t.app.http.hasRoute({ method: method as 'GET', url: registered }), `${method} ${url}`).toBe(
        true,
      );
      routes.push({ method, url, scope: 'read' });
      SAMPLES[`${method} ${url}`] = async () => ({
        path,
        ok,
        hf: true,
        ...(body === undefined ? {} : { body }),
      });
    }

    const missing = routes.map((r) => `${r.method} ${r.url}`).filter((name) => !(name in SAMPLES));
    expect(missing, 'routes without a sample request in this test').toEqual([]);
    // The server's own route table, as the access hook recorded it: every route that needs a key
    // (HEAD answers like its GET) is in the matrix, whether it is documented or hidden.
    const walked = new Set(routes.map((r) => `${r.method} ${r.url}`));
    const unwalked = t.app.http.routeScopes
      .filter((r) => r.scope !== 'public' && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
      .filter((name) => !walked.has(name));
    expect(unwalked, 'registered routes the matrix does not walk').toEqual([]);
    expect(routes.length).toBeGreaterThanOrEqual(29);

    const results: string[] = [];
    for (const route of routes) {
      for (const caller of CALLERS) {
        const makeSample = SAMPLES[`${route.method} ${route.url}`];
        if (!makeSample) throw new Error(`no sample for ${route.method} ${route.url}`);
        const sample = await makeSample();
        const key = caller === 'none' ? undefined : caller === 'unknown' ? UNKNOWN_KEY : keys[caller];
        const response = await call(route.method, sample.path, {
          key,
          ...(sample.body === undefined ? {} : { body: sample.body }),
          ...(sample.stream ? { stream: true } : {}),
        });
        const expected =
          route.scope === 'public'
            ? sample.ok
            : caller === 'none' || caller === 'unknown'
              ? 401
              : RANK[caller] >= RANK[route.scope]
                ? sample.ok
                : 403;
        results.push(`${route.method} ${route.url} as ${caller}: ${response.status}`);
        expect(
          response.status,
          `${route.method} ${route.url} as ${caller}: ${JSON.stringify(response.body)}`,
        ).toBe(expected);
        if (expected === 401 && sample.hf) {
          expect(response.headers.get('x-error-code')).toBe('RepoNotFound');
          expect(response.body).toEqual({ error: response.headers.get('x-error-message') });
        } else if (expected === 401) {
          expectErrorShape(response, 401, 'UNAUTHORIZED');
          expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
        }
        if (expected === 403) expectErrorShape(response, 403, 'FORBIDDEN');
      }
    }
    expect(results.length).toBe(routes.length * CALLERS.length);
  });
});

describe('keys', () => {
  it('shows a key once, stores only its hash, and stops accepting it as soon as it is revoked', async () => {
    const created = await admin('POST', '/v1/hub/keys', { scope: 'write', name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ scope: 'write', name: 'ci', last_used_at: null });
    expect(created.body.key).toMatch(/^mh_[A-Za-z0-9_-]{43}$/);
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);

    const rows = await t.app.db.selectFrom('apiKeys').selectAll().where('id', '=', created.body.id).execute();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(created.body.key);
    const { createHash } = await import('node:crypto');
    expect(rows[0]?.keyHash).toBe(createHash('sha256').update(created.body.key).digest('hex'));

    const listed = await admin('GET', '/v1/hub/keys');
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect(listed.body.items.map((k: any) => k.id)).toContain(created.body.id);

    expect(
      (await call('POST', '/v1/hub/sync', { key: created.body.key, body: { repo_id: model.repo_id } }))
        .status,
    ).toBe(202);
    const used = await admin('GET', '/v1/hub/keys');
    expect(used.body.items.find((k: any) => k.id === created.body.id).last_used_at).not.toBeNull();

    const revoked = await admin('DELETE', `/v1/hub/keys/${created.body.prefix}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked.id).toBe(created.body.id);
    expectErrorShape(await call('GET', '/v1/hub/models', { key: created.body.key }), 401, 'UNAUTHORIZED');
    expectErrorShape(await admin('DELETE', `/v1/hub/keys/${created.body.id}`), 404, 'KEY_NOT_FOUND');
  });

  it('refuses malformed key requests with 400', async () => {
    expectErrorShape(await admin('POST', '/v1/hub/keys', { scope: 'root' }), 400, 'VALIDATION_FAILED');
    expectErrorShape(await admin('POST', '/v1/hub/keys', {}), 400, 'VALIDATION_FAILED');
    expectErrorShape(await admin('DELETE', '/v1/hub/keys/abc'), 400, 'VALIDATION_FAILED');
  });

  it('reads only "Authorization: Bearer <key>": other schemes and the key elsewhere count as no key', async () => {
    for (const authorization of [`Basic ${keys.admin}`, keys.admin, `Bearer ${keys.admin} extra`]) {
      const response = await fetch(`${base}/v1/hub/models`, { headers: { authorization } });
      expect(response.status).toBe(401);
    }
    expect((await fetch(`${base}/v1/hub/models?key=${keys.admin}`)).status).toBe(401);
    expect(
      (await fetch(`${base}/v1/hub/models`, { headers: { authorization: `bearer ${keys.read}` } })).status,
    ).toBe(200);
  });
});
