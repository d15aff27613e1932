import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { databaseKeys } from '../../src/keys-command.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';

/** When access control applies: loopback without keys, the startup refusal, AUTH=on/off, METRICS_PUBLIC. */
let hub: FakeHub;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  hub = await startFakeHub();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await hub?.close();
});

interface Started {
  app: App;
  logs: () => string;
  env: Record<string, string>;
}

async function environment(extra: Record<string, string> = {}) {
  const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-access-'));
  const backend: Backend = await createBackend();
  cleanups.push(async () => {
    await backend.drop();
    await fs.rm(storePath, { recursive: true, force: true });
  });
  return { ...backend.env, MODEL_STORE_PATH: storePath, HF_ENDPOINT: hub.url, LOG_LEVEL: 'info', ...extra };
}

async function start(env: Record<string, string>): Promise<Started> {
  let lines = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines += chunk.toString();
      done();
    },
  });
  const config = loadConfig(env);
  const app = await createApp(config, createLogger(config.logLevel, sink));
  cleanups.push(() => app.close());
  return { app, logs: () => lines, env };
}

async function get(app: App, url: string, headers: Record<string, string> = {}) {
  const response = await app.http.inject({ method: 'GET', url, headers });
  const json = String(response.headers['content-type']).startsWith('application/json');
  return {
    status: response.statusCode,
    body: json ? (response.json() as any) : response.body,
    headers: response.headers,
  };
}

describe('a loopback hub without keys', () => {
  it('is open to loopback Host names only, and needs keys from the first one on', async () => {
    const { app, env } = await start(await environment());
    for (const host of ['localhost:8000', '127.0.0.1:8000', '[::1]:8000', 'LOCALHOST', 'hub.localhost']) {
      expect((await get(app, '/v1/hub/models', { host })).status, host).toBe(200);
    }
    for (const host of [
      'evil.example',
      'evil.example:8000',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
      '10.0.0.5',
    ]) {
      const response = await get(app, '/v1/hub/models', { host });
      expect(response.status, host).toBe(403);
      expect(response.body.error.code).toBe('FORBIDDEN');
      expect(response.body.error.message).toContain('keys create');
    }
    expect((await get(app, '/healthz', { host: 'evil.example' })).status).toBe(200);

    const created = await databaseKeys(loadConfig(env)).create('read', 'reader');
    // The "any keys?" answer is cached for up to 2 s.
    const deadline = Date.now() + 5_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      status = (await get(app, '/v1/hub/models', { host: 'localhost' })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    expect((await get(app, '/v1/hub/models', { authorization: `Bearer ${created.key}` })).status).toBe(200);
  });

  it('with AUTH=on needs a key even on loopback, and /metrics follows METRICS_PUBLIC', async () => {
    const on = await start(await environment({ AUTH: 'on' }));
    const denied = await get(on.app, '/v1/hub/models');
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await get(on.app, '/metrics')).status).toBe(401);
    expect((await get(on.app, '/readyz')).status).toBe(200);

    const open = await start(await environment({ AUTH: 'on', METRICS_PUBLIC: 'true' }));
    const metrics = await open.app.http.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('# HELP');
  });
});

describe('starting on a non-loopback address', () => {
  it('refuses to start without a key, saying how to create one or turn access control off', async () => {
    const env = await environment({ HOST: '0.0.0.0' });
    const refused = await start(env).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toContain('model-hub keys create --scope admin');
    expect((refused as Error).message).toContain('AUTH=off');

    await databaseKeys(loadConfig(env)).create('admin', 'bootstrap');
    const { app } = await start(env);
    expect((await get(app, '/v1/hub/models', { host: 'hub.example:8000' })).status).toBe(401);
  });

  it('with AUTH=off starts, warns at every start, and checks nothing', async () => {
    const env = await environment({ HOST: '0.0.0.0', AUTH: 'off' });
    await databaseKeys(loadConfig(env)).create('read', undefined);
    const started = await start(env);
    expect(started.logs()).toMatch(/"level":40[^\n]*AUTH=off: access control is disabled/);
    expect((await get(started.app, '/v1/hub/models', { host: 'evil.example' })).status).toBe(200);
    expect((await get(started.app, '/metrics')).status).toBe(200);
  });
});

describe('denied requests', () => {
  it('are logged with their reason, never with the key that was sent', async () => {
    const env = await environment();
    const admin = await databaseKeys(loadConfig(env)).create('admin', 'ops');
    const reader = await databaseKeys(loadConfig(env)).create('read', 'dash');
    const { app, logs } = await start(env);
    const unknown = `mh_${'Z'.repeat(43)}`;
    expect((await get(app, '/v1/hub/models', { authorization: `Bearer ${unknown}` })).status).toBe(401);
    const forbidden = await app.http.inject({
      method: 'POST',
      url: '/v1/hub/gc',
      headers: { authorization: `Bearer ${reader.key}` },
      payload: {},
    });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.message).toContain('"admin"');
    expect((await get(app, '/v1/hub/keys', { authorization: `Bearer ${admin.key}` })).status).toBe(200);

    const text = logs();
    expect(text.match(/access denied/g)?.length).toBe(2);
    expect(text).toContain(reader.prefix);
    for (const secret of [unknown, reader.key, admin.key]) expect(text).not.toContain(secret);
  });
});
