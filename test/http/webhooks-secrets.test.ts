import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { newId, nowIso } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { WebhooksRepository } from '../../src/db/webhooks.repo.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/** Webhook secrets at rest: encrypted with SECRETS_KEY, plain rows from before the key still work. */
const SECRET = 'whsec-at-rest-0123456789';
const LEGACY_SECRET = 'whsec-legacy-plain-98765';
const KEY = randomBytes(32).toString('hex');
const OTHER_KEY = randomBytes(32).toString('base64');

let hub: FakeHub;
let backend: Backend;
let storePath: string;
const receivers: WebhookReceiver[] = [];
let app: App | undefined;
let logs = '';

beforeAll(async () => {
  hub = await startFakeHub();
  backend = await createBackend();
  storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-webhook-secrets-'));
  await hub.addRepo({ id: 'org/sealed', files: [{ path: 'config.json', content: '{"s":1}' }] });
});
afterAll(async () => {
  await app?.close().catch(() => undefined);
  for (const receiver of receivers) await receiver.close();
  await backend?.drop();
  await fs.rm(storePath, { recursive: true, force: true });
  await hub?.close();
});

/** (Re)starts the app on the same database and store, with `secretsKey` or none. */
async function restart(secretsKey: string | undefined): Promise<App> {
  await app?.close();
  logs = '';
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs += chunk;
      callback();
    },
  });
  const config = loadConfig({
    ...backend.env,
    MODEL_STORE_PATH: storePath,
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'info',
    UPSTREAM_RETRY_BASE_MS: '5',
    WEBHOOK_RETRY_BASE_MS: '600000',
    ...(secretsKey ? { SECRETS_KEY: secretsKey } : {}),
  });
  app = await createApp(config, createLogger(config.logLevel, sink));
  return app;
}

async function call(method: 'GET' | 'POST', url: string, payload?: object): Promise<any> {
  if (!app) throw new Error('no app');
  const response = await app.http.inject({ method, url, ...(payload ? { payload } : {}) });
  return response.body ? response.json() : undefined;
}

async function storedSecret(webhookId: string): Promise<string | null> {
  if (!app) throw new Error('no app');
  const row = await app.db
    .selectFrom('webhooks')
    .select('secret')
    .where('id', '=', webhookId)
    .executeTakeFirstOrThrow();
  return row.secret;
}

async function receiver(secret: string): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver({ secret });
  receivers.push(started);
  return started;
}

/** Syncs the repo once more: one more `job.completed` event for every subscribed webhook. */
async function syncOnce(): Promise<void> {
  const { job_id: jobId } = await call('POST', '/v1/hub/sync', { repo_id: 'org/sealed' });
  await waitFor(
    'the sync',
    async () => {
      const job = await call('GET', `/v1/hub/jobs/${jobId}`);
      return job.status === 'completed' ? job : undefined;
    },
    10_000,
  );
}

async function latestDelivery(webhookId: string, done: (d: any) => boolean): Promise<any> {
  return waitFor(
    `a delivery of ${webhookId}`,
    async () => {
      const first = (await call('GET', `/v1/hub/webhooks/${webhookId}/deliveries`)).items[0];
      return first && done(first) ? first : undefined;
    },
    10_000,
  );
}

describe('webhook secrets at rest', () => {
  let sealedId: string;
  let legacyId: string;
  let sealedReceiver: WebhookReceiver;
  let legacyReceiver: WebhookReceiver;

  it('stores an encrypted value, never the secret, and still signs with the secret', async () => {
    await restart(KEY);
    sealedReceiver = await receiver(SECRET);
    const created = await call('POST', '/v1/hub/webhooks', {
      url: sealedReceiver.url,
      events: ['job.completed'],
      secret: SECRET,
    });
    expect(created).toMatchObject({ has_secret: true });
    expect(JSON.stringify(created)).not.toContain(SECRET);
    sealedId = created.id;

    const stored = await storedSecret(sealedId);
    expect(stored).toMatch(/^enc:v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(Buffer.from(SECRET).toString('base64url'));

    await call('POST', '/v1/hub/register', { vendor: 'Org', name: 'Sealed', source_repo_id: 'org/sealed' });
    await syncOnce();
    await latestDelivery(sealedId, (d) => d.status === 'succeeded');
    expect(sealedReceiver.received).toHaveLength(1);
    expect(sealedReceiver.received[0]?.signatureValid).toBe(true);
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(KEY);
  });

  it('signs with a secret stored plain before the key was set, and encrypts it at the next start', async () => {
    legacyReceiver = await receiver(LEGACY_SECRET);
    if (!app) throw new Error('no app');
    // Written the way a hub without SECRETS_KEY stored it.
    const legacy = await new WebhooksRepository(app.db).create({
      id: newId(),
      url: legacyReceiver.url,
      events: ['job.completed'],
      secret: LEGACY_SECRET,
      createdAt: nowIso(),
    });
    legacyId = legacy.id;
    await syncOnce();
    await latestDelivery(legacyId, (d) => d.status === 'succeeded');
    expect(legacyReceiver.received[0]?.signatureValid).toBe(true);

    await restart(KEY);
    expect(logs).toContain('webhook secrets stored plain were encrypted with SECRETS_KEY');
    const stored = await storedSecret(legacyId);
    expect(stored).toMatch(/^enc:v1:/);
    expect(stored).not.toContain(LEGACY_SECRET);
    await syncOnce();
    await latestDelivery(legacyId, (d) => d.status === 'succeeded' && d.attempts === 1);
    await waitFor('the second legacy post', async () => legacyReceiver.received[1], 10_000);
    expect(legacyReceiver.received.map((p) => p.signatureValid)).toEqual([true, true]);
  });

  it('with another key: says so at start, and each delivery fails with a clear message', async () => {
    await restart(OTHER_KEY);
    expect(logs).toContain('webhook secrets cannot be decrypted');
    const before = sealedReceiver.received.length;
    await syncOnce();
    const failed = await latestDelivery(sealedId, (d) => d.attempts === 1 && d.status === 'pending');
    expect(failed.last_error).toBe(
      'not sent: the secret cannot be decrypted with this SECRETS_KEY (it was encrypted with another key)',
    );
    expect(failed.last_status_code).toBeNull();
    expect(sealedReceiver.received).toHaveLength(before);
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(OTHER_KEY);
  });

  it('without a key: warns once that secrets are plain, and that encrypted ones cannot be read', async () => {
    await restart(undefined);
    const unsigned = await receiver(SECRET);
    await call('POST', '/v1/hub/webhooks', { url: unsigned.url, events: ['job.completed'], secret: SECRET });
    await restart(undefined);
    const warnings = logs.split('\n').filter((line) => line.includes('stored unencrypted'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({ level: 40, webhooks: 1 });
    expect(logs).toContain('webhook secrets cannot be decrypted');
    expect(logs).not.toContain(SECRET);
  });
});
