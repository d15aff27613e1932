import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { freePort, runCli } from '../support/child-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** `model-hub keys …` against the database (bootstrap) and through the API, and `--key` / MODEL_HUB_KEY. */
let hub: FakeHub;
let t: TestApp;
let base: string;
let dbEnv: Record<string, string>;

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({ id: 'org/keyed', files: [{ path: 'config.json', content: '{"model_type":"bert"}' }] });
  t = await startTestApp(hub.url);
  base = await t.listen();
  // The CLI's own view of the hub's database: the same store (SQLite) or the same DATABASE_URL.
  dbEnv = { ...t.backendEnv, MODEL_STORE_PATH: t.storePath, LOG_LEVEL: 'silent', MODEL_HUB_KEY: '' };
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('model-hub keys', () => {
  it('bootstraps the first admin key in the database, then everything needs a key', async () => {
    const created = await runCli(['keys', 'create', '--scope', 'admin', '--name', 'ops', '--json'], dbEnv);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(Object.keys(key).sort()).toEqual(['created_at', 'id', 'key', 'name', 'scope']);
    expect(key).toMatchObject({ scope: 'admin', name: 'ops' });
    expect(key.key).toMatch(/^mh_[A-Za-z0-9_-]{43}$/);

    const human = await runCli(['keys', 'create', '--scope', 'read'], dbEnv);
    expect(human.code, human.stderr).toBe(0);
    const readKey = human.stdout.trim();
    expect(readKey).toMatch(/^mh_[A-Za-z0-9_-]{43}$/);
    expect(human.stderr).toContain('only time the key is shown');

    const listed = await runCli(['keys', 'list'], dbEnv);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(key.key.slice(0, 11));
    expect(listed.stdout).toContain('ops');
    expect(listed.stdout).not.toContain(key.key);
    expect(listed.stdout).not.toContain(readKey);

    // The running hub sees the new keys within its 2 s cache.
    const url = ['--url', base];
    let denied = await runCli([...url, 'models'], dbEnv);
    for (let i = 0; i < 10 && denied.code === 0; i++) denied = await runCli([...url, 'models'], dbEnv);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error: .*API key.*\(UNAUTHORIZED\)/m);

    const withEnv = await runCli([...url, 'models'], { ...dbEnv, MODEL_HUB_KEY: key.key });
    expect(withEnv.code, withEnv.stderr).toBe(0);
    // The key also opens the event stream that --wait follows.
    const registered = await runCli([...url, '--key', key.key, 'register', 'org/keyed'], dbEnv);
    expect(registered.code, registered.stderr).toBe(0);
    const synced = await runCli([...url, '--key', key.key, 'sync', 'org/keyed', '--wait'], dbEnv);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toMatch(/completed|done/i);
    const readOnly = await runCli([...url, '--key', readKey, 'keys', 'list'], dbEnv);
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toContain('(FORBIDDEN)');

    const viaApi = await runCli([...url, 'keys', 'list', '--json'], { ...dbEnv, MODEL_HUB_KEY: key.key });
    expect(viaApi.code, viaApi.stderr).toBe(0);
    expect(
      JSON.parse(viaApi.stdout)
        .map((k: any) => k.scope)
        .sort(),
    ).toEqual(['admin', 'read']);

    const revoked = await runCli([...url, 'keys', 'revoke', readKey.slice(0, 11)], {
      ...dbEnv,
      MODEL_HUB_KEY: key.key,
    });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('Revoked read key');
    const gone = await runCli([...url, '--key', readKey, 'models'], dbEnv);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('(UNAUTHORIZED)');
  });

  it('refuses to serve on 0.0.0.0 with no key (exit 2) and says how to create one', async () => {
    const store = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-refuse-'));
    try {
      const env = {
        // A fresh SQLite store: no keys. (The distributed database of this file already has keys.)
        MODEL_STORE_PATH: store,
        HOST: '0.0.0.0',
        PORT: String(await freePort()),
        HF_ENDPOINT: hub.url,
        LOG_LEVEL: 'silent',
        DATABASE_URL: '',
        REDIS_URL: '',
      };
      const refused = await runCli(['serve'], env);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('model-hub keys create --scope admin');
      expect(refused.stderr).toContain('AUTH=off');
    } finally {
      await fs.rm(store, { recursive: true, force: true });
    }
  });
});
