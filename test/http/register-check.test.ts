import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Registering asks upstream once; its refusal or its silence is the answer, unless `verify: false`. */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({ id: 'acme/present', files: [{ path: 'config.json', content: '{"a":1}' }] });
  await hub.addRepo({ id: 'acme/gated', gated: true, files: [{ path: 'config.json', content: '{}' }] });
  await hub.addRepo({ id: 'acme/private', private: true, files: [{ path: 'config.json', content: '{}' }] });
  t = await startTestApp(hub.url);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const register = (app: TestApp, body: Record<string, unknown>) =>
  app.request('POST', '/v1/hub/register', { vendor: 'Acme', name: 'Thing', ...body });

async function registeredRepoIds(app: TestApp): Promise<string[]> {
  const { body } = await app.request('GET', '/v1/hub/models');
  return body.items.map((m: { repo_id: string }) => m.repo_id);
}

function expectError(response: { status: number; body: any }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.body.error).toEqual({
    code,
    message: expect.any(String),
    request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
  });
  return response.body.error.message as string;
}

describe('register checks upstream', () => {
  it('registers a repo upstream has, with one model info request and no access check', async () => {
    hub.resetRequests();
    const created = await register(t, { source_repo_id: 'acme/present' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ repo_id: 'acme/present', revision: 'main', status: 'registered' });
    expect(hub.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /api/models/acme/present/revision/main 200',
    ]);
  });

  it('answers 404 for a repo upstream does not have, with the hub reason, and stores nothing', async () => {
    const message = expectError(
      await register(t, { source_repo_id: 'acme/missing' }),
      404,
      'UPSTREAM_REPO_NOT_FOUND',
    );
    expect(message).toBe(
      `Repository acme/missing was not found on ${hub.url} (RepoNotFound): Repository not found. Check source_repo_id. If it is private, set HF_TOKEN on this hub to a token that can read it.`,
    );
    // A private repo looks the same to a hub without a token.
    expectError(await register(t, { source_repo_id: 'acme/private' }), 404, 'UPSTREAM_REPO_NOT_FOUND');
    expect(await registeredRepoIds(t)).not.toContain('acme/missing');
    expect(await registeredRepoIds(t)).not.toContain('acme/private');
  });

  it('answers 404 for a revision upstream does not have', async () => {
    await hub.addRepo({ id: 'acme/revs', files: [{ path: 'config.json', content: '{}' }] });
    const message = expectError(
      await register(t, { source_repo_id: 'acme/revs', revision: 'v9' }),
      404,
      'UPSTREAM_REVISION_NOT_FOUND',
    );
    expect(message).toBe(
      `Revision v9 of acme/revs was not found on ${hub.url} (RevisionNotFound): Invalid rev id: v9. Check revision: a branch, tag or commit of the repo.`,
    );
    expect(await registeredRepoIds(t)).not.toContain('acme/revs');
  });

  it('answers 403 for a gated repo without a token, with the hub reason and a hint about HF_TOKEN', async () => {
    hub.resetRequests();
    const message = expectError(await register(t, { source_repo_id: 'acme/gated' }), 403, 'UPSTREAM_GATED');
    expect(message).toBe(
      `Repository acme/gated is gated on ${hub.url} (GatedRepo): Access to model acme/gated is restricted. You must have access to it and be authenticated to access it. Please log in. Set HF_TOKEN on this hub to a token whose account was granted access.`,
    );
    expect(hub.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'GET /api/models/acme/gated/revision/main 200',
      'GET /api/models/acme/gated/auth-check 401',
    ]);
    expect(await registeredRepoIds(t)).not.toContain('acme/gated');
  });

  it('registers gated and private repos with a token that can read them, and never echoes a token', async () => {
    const withToken = await startTestApp(hub.url, { HF_TOKEN: hub.token });
    try {
      expect((await register(withToken, { source_repo_id: 'acme/gated' })).status).toBe(201);
      expect((await register(withToken, { source_repo_id: 'acme/private', name: 'P' })).status).toBe(201);
      const missing = expectError(
        await register(withToken, { source_repo_id: 'acme/missing' }),
        404,
        'UPSTREAM_REPO_NOT_FOUND',
      );
      expect(missing).toContain('If it is private, the HF_TOKEN set on this hub cannot read it.');
      expect(missing).not.toContain(hub.token);
    } finally {
      await withToken.close();
    }
    const wrongToken = await startTestApp(hub.url, { HF_TOKEN: 'hf_wrong_secret_value' });
    try {
      const response = await register(wrongToken, { source_repo_id: 'acme/present' });
      const message = expectError(response, 403, 'UPSTREAM_UNAUTHORIZED');
      expect(message).toBe(
        `${hub.url} refused the HF_TOKEN set on this hub while checking acme/present (HTTP 401): Invalid credentials in Authorization header. Set HF_TOKEN to a valid token.`,
      );
      expect(JSON.stringify(response.body)).not.toContain('hf_wrong_secret_value');
    } finally {
      await wrongToken.close();
    }
  });
});

describe('register with upstream down', () => {
  let down: TestApp;
  let downUrl: string;

  beforeAll(async () => {
    // A port that was just free and is closed again: connections are refused.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    downUrl = `http://127.0.0.1:${port}`;
    down = await startTestApp(downUrl);
  });
  afterAll(async () => {
    await down?.close();
  });

  it('answers 502 saying it can be registered with verify: false, and stores nothing', async () => {
    const started = Date.now();
    const message = expectError(
      await register(down, { source_repo_id: 'acme/offline' }),
      502,
      'UPSTREAM_UNAVAILABLE',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(message).toMatch(
      /^Could not reach upstream while fetching model info for acme\/offline@main: .*ECONNREFUSED/,
    );
    expect(message).toContain(
      'Try again later, or register it anyway with "verify": false (CLI: --no-verify); its first sync checks it then.',
    );
    expect(await registeredRepoIds(down)).not.toContain('acme/offline');
  });

  it('registers with verify: false without asking upstream', async () => {
    const created = await register(down, { source_repo_id: 'acme/offline', verify: false });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ repo_id: 'acme/offline', status: 'registered', commit_sha: null });
    expect(await registeredRepoIds(down)).toContain('acme/offline');
  });

  it('refuses a verify that is not a boolean with 400', async () => {
    const response = await register(down, { source_repo_id: 'acme/other', verify: 'no' });
    expect(expectError(response, 400, 'VALIDATION_FAILED')).toContain('body.verify must be boolean');
  });
});

describe('register with upstream silent', () => {
  it('answers 504 within its bounded timeout, saying it can be registered with verify: false', async () => {
    // Accepts connections and never answers.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const app = await startTestApp(`http://127.0.0.1:${port}`, { UPSTREAM_TIMEOUT_MS: '300' });
    try {
      const started = Date.now();
      const message = expectError(
        await register(app, { source_repo_id: 'acme/slow' }),
        504,
        'UPSTREAM_UNAVAILABLE',
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(message).toBe(
        `http://127.0.0.1:${port} did not answer in time while checking acme/slow@main. Try again later, or register it anyway with "verify": false (CLI: --no-verify); its first sync checks it then.`,
      );
      expect(await registeredRepoIds(app)).not.toContain('acme/slow');
    } finally {
      await app.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
