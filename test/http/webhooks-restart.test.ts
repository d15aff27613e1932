import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { freePort, waitFor } from '../support/child-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/** Deliveries are rows written with the event, so one that could not be sent survives a restart. */
let hub: FakeHub;
let backend: Backend;
let storePath: string;
let config: Config;
let receiver: WebhookReceiver | undefined;
const apps: App[] = [];

beforeAll(async () => {
  hub = await startFakeHub();
  backend = await createBackend();
  storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-webhook-restart-'));
  config = loadConfig({
    ...backend.env,
    MODEL_STORE_PATH: storePath,
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'silent',
    UPSTREAM_RETRY_BASE_MS: '5',
    // Retries of the first app come after its close; the second app sends the delivery.
    WEBHOOK_RETRY_BASE_MS: '1000',
  });
  await hub.addRepo({ id: 'org/durable', files: [{ path: 'config.json', content: '{"d":1}' }] });
});
afterAll(async () => {
  for (const app of apps) await app.close().catch(() => undefined);
  await receiver?.close();
  await backend?.drop();
  await fs.rm(storePath, { recursive: true, force: true });
  await hub?.close();
});

async function call(app: App, method: 'GET' | 'POST', url: string, payload?: object): Promise<any> {
  const response = await app.http.inject({ method, url, ...(payload ? { payload } : {}) });
  return response.body ? response.json() : undefined;
}

async function deliveryOf(app: App, webhookId: string): Promise<any> {
  return (await call(app, 'GET', `/v1/hub/webhooks/${webhookId}/deliveries`)).items[0];
}

describe('webhook delivery across a restart', () => {
  it('keeps a delivery the receiver was down for and sends it from the next app', async () => {
    const port = await freePort();
    const first = await createApp(config, createLogger('silent'));
    apps.push(first);
    const webhook = await call(first, 'POST', '/v1/hub/webhooks', {
      url: `http://127.0.0.1:${port}/hook`,
      events: ['job.completed'],
    });
    await call(first, 'POST', '/v1/hub/register', {
      vendor: 'Org',
      name: 'Durable',
      source_repo_id: 'org/durable',
    });
    const { job_id: jobId } = await call(first, 'POST', '/v1/hub/sync', { repo_id: 'org/durable' });
    const job = await waitFor(
      'the sync',
      async () => {
        const found = await call(first, 'GET', `/v1/hub/jobs/${jobId}`);
        return found.status === 'completed' || found.status === 'failed' ? found : undefined;
      },
      10_000,
    );
    expect(job.status).toBe('completed');

    // Nothing listens on the port yet: the first attempt fails and the delivery stays pending.
    const failed = await waitFor(
      'a failed first attempt',
      async () => {
        const delivery = await deliveryOf(first, webhook.id);
        return delivery?.attempts >= 1 ? delivery : undefined;
      },
      10_000,
    );
    expect(failed).toMatchObject({ event_type: 'job.completed', status: 'pending', last_status_code: null });
    expect(failed.last_error).toContain('ECONNREFUSED');
    await first.close();

    receiver = await startWebhookReceiver({ port });
    const second = await createApp(config, createLogger('silent'));
    apps.push(second);
    const delivered = await waitFor(
      'the delivery from the second app',
      async () => {
        const delivery = await deliveryOf(second, webhook.id);
        return delivery?.status === 'succeeded' ? delivery : undefined;
      },
      15_000,
    );
    expect(delivered).toMatchObject({ id: failed.id, last_status_code: 204, last_error: null });
    expect(delivered.attempts).toBeGreaterThan(failed.attempts);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.headers['x-modelhub-delivery']).toBe(failed.id);
    expect(receiver.received[0]?.body).toMatchObject({ type: 'job.completed', job_id: jobId });
  });
});
