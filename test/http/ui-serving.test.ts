import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installAccessControl } from '../../src/http/access-control.js';
import { defaultUiRoot, uiRoutes } from '../../src/http/ui.routes.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { ensureUiBuilt } from '../support/browser.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The admin UI's static files at /ui, served by the hub itself (the built app, with a key
 * existing: the page needs no key, every API call does), and the two things the page needs from the
 * API: `?access_token=` on the event streams (never logged) and `GET /v1/hub/whoami`.
 */
let hub: FakeHub;
let t: TestApp;
let adminKey: string;
const logLines: string[] = [];

beforeAll(async () => {
  await ensureUiBuilt();
  hub = await startFakeHub();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  t = await startTestApp(hub.url, { LOG_LEVEL: 'info' }, sink);
  // While no key exists a loopback hub is open: the first key is made through the API; from then on
  // every /v1 request needs one.
  const created = await t.request('POST', '/v1/hub/keys', { scope: 'admin', name: 'ui-test' });
  expect(created.status).toBe(201);
  adminKey = created.body.key;
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const get = (url: string, headers: Record<string, string> = {}) =>
  t.app.http.inject({ method: 'GET', url, headers });

describe('admin UI serving', () => {
  it('serves index.html at /ui and at client-side deep links, never cached, without a key', async () => {
    const index = fs.readFileSync(path.join(defaultUiRoot(), 'index.html'), 'utf8');
    for (const url of ['/ui', '/ui/', '/ui/jobs', `/ui/jobs/${crypto.randomUUID()}`, '/ui/models/x?tab=1']) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type'], url).toMatch(/^text\/html/);
      expect(response.headers['cache-control'], url).toBe('no-cache');
      expect(response.body, url).toBe(index);
    }
    expect((await get('/v1/hub/models')).statusCode).toBe(401);
    const root = await get('/');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/ui/');
  });

  it('serves the hashed assets the page names with a long, immutable cache; a missing file is a 404', async () => {
    const index = (await get('/ui')).body;
    const assets = [...index.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const response = await get(asset);
      expect(response.statusCode, asset).toBe(200);
      expect(response.headers['cache-control'], asset).toBe('public, max-age=31536000, immutable');
      expect(response.body.length, asset).toBeGreaterThan(0);
    }
    expect((await get('/ui/assets/index-gone1234.js')).statusCode).toBe(404);
    expect((await get('/ui/favicon.ico')).statusCode).toBe(404);
    // Refused (403) before the file system is asked.
    expect((await get('/ui/assets/..%2f..%2fpackage.json')).statusCode).toBe(403);
  });

  it('answers 503 with what to do when the UI is not built', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'model-hub-ui-'));
    const app = Fastify();
    installAccessControl(app, {
      keys: { anyKeys: async () => true, authenticate: async () => null },
      mode: 'on',
      listenHost: '127.0.0.1',
      metricsPublic: false,
    });
    await app.register(uiRoutes({ root: empty }));
    const response = await app.inject({ method: 'GET', url: '/ui/jobs' });
    expect(response.statusCode).toBe(503);
    expect(response.json().error).toMatchObject({ code: 'UI_NOT_BUILT' });
    expect(response.json().error.message).toContain('npm run build');
    await app.close();
    fs.rmSync(empty, { recursive: true, force: true });
  });
});

describe('what the page needs from the API', () => {
  it('whoami names the scope and the key prefix', async () => {
    const response = await get('/v1/hub/whoami', { authorization: `Bearer ${adminKey}` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ scope: 'admin', key_prefix: adminKey.slice(0, 11), auth: 'key' });
    expect((await get('/v1/hub/whoami')).statusCode).toBe(401);
  });

  it('the event streams take the key as ?access_token= (only they do), and no log line shows it', async () => {
    const base = await t.listen();
    const controller = new AbortController();
    const stream = await fetch(`${base}/v1/hub/events?access_token=${adminKey}`, {
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    controller.abort();
    const refused = await fetch(`${base}/v1/hub/events?access_token=mh_not-a-key`);
    expect(refused.status).toBe(401);
    await refused.text();
    // Any other route ignores it (and refuses it as an unknown query field).
    const elsewhere = await fetch(`${base}/v1/hub/jobs?access_token=${adminKey}`);
    expect(elsewhere.status).toBe(401);
    await elsewhere.text();
    const logs = logLines.join('');
    expect(logs).toContain('access_token=[REDACTED]');
    expect(logs).not.toContain(adminKey);
  });
});
