import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USER_AGENT } from '../../src/version.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'whsec-0123456789abcdef';
const RETRY_BASE_MS = 50;

let hub: FakeHub;
let t: TestApp;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS) });
  await hub.addRepo({
    id: 'org/hooked',
    files: [
      { path: 'config.json', content: '{"model_type":"bert"}' },
      { path: 'tokenizer.json', content: '{"version":"1.0"}' },
      { path: 'model.safetensors', content: { size: 4096, seed: 'hooked' } },
    ],
  });
});
afterAll(async () => {
  await t?.close();
  for (const receiver of receivers) await receiver.close();
  await hub?.close();
});

async function receiver(options: Parameters<typeof startWebhookReceiver>[0] = {}) {
  const started = await startWebhookReceiver(options);
  receivers.push(started);
  return started;
}

async function deliveriesWhen(webhookId: string, done: (items: any[]) => boolean): Promise<any[]> {
  return waitFor(
    `deliveries of ${webhookId}`,
    async () => {
      const page = await t.request('GET', `/v1/hub/webhooks/${webhookId}/deliveries?limit=200`);
      return done(page.body.items) ? page.body.items : undefined;
    },
    15_000,
  );
}

describe('webhook delivery', () => {
  it('POSTs the subscribed events of a sync, signed, each with its own delivery id', async () => {
    const endpoint = await receiver({ secret: SECRET });
    const created = await t.request('POST', '/v1/hub/webhooks', {
      url: endpoint.url,
      events: ['job.completed', 'model.synced', 'artifact.completed'],
      secret: SECRET,
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      url: endpoint.url,
      events: ['job.completed', 'model.synced', 'artifact.completed'],
      has_secret: true,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });

    const { job, model, artifacts } = await registerAndSync(t, 'org/hooked');
    expect(job.status).toBe('completed');
    const deliveries = await deliveriesWhen(
      created.body.id,
      (items) => items.length === 4 && items.every((d) => d.status === 'succeeded'),
    );

    const posts = endpoint.received;
    expect(posts).toHaveLength(4);
    expect(posts.map((p) => p.headers['x-modelhub-event']).sort()).toEqual([
      'artifact.completed',
      'artifact.completed',
      'job.completed',
      'model.synced',
    ]);
    for (const post of posts) {
      expect(post.signatureValid).toBe(true);
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.headers['user-agent']).toBe(USER_AGENT);
      expect(post.body.type).toBe(post.headers['x-modelhub-event']);
      expect(post.body.job_id).toBe(job.id);
      expect(post.body.model_id).toBe(model.id);
    }
    const byType = (type: string) => posts.filter((p) => p.body.type === type).map((p) => p.body);
    expect(byType('job.completed')[0]).toMatchObject({ data: { type: 'sync' } });
    expect(byType('model.synced')[0].data).toMatchObject({ repo_id: 'org/hooked', files: 3 });
    expect(byType('artifact.completed').map((e) => [e.data.path, e.artifact_id])).toEqual(
      expect.arrayContaining([
        ['config.json', artifacts.get('config.json').id],
        ['tokenizer.json', artifacts.get('tokenizer.json').id],
      ]),
    );

    const deliveryIds = posts.map((p) => String(p.headers['x-modelhub-delivery']));
    expect(new Set(deliveryIds).size).toBe(4);
    expect(deliveries.map((d) => d.id).sort()).toEqual([...deliveryIds].sort());
    for (const delivery of deliveries) {
      const post = posts.find((p) => p.headers['x-modelhub-delivery'] === delivery.id);
      expect(delivery).toEqual({
        id: delivery.id,
        event_id: post?.body.id,
        event_type: post?.body.type,
        status: 'succeeded',
        attempts: 1,
        next_attempt_at: null,
        last_status_code: 204,
        last_error: null,
        created_at: post?.body.at,
        delivered_at: expect.any(String),
      });
    }
    // Newest first, and paged with a cursor.
    const eventIds = deliveries.map((d) => d.event_id);
    expect(eventIds).toEqual([...eventIds].sort((a, b) => b - a));
    const first = await t.request('GET', `/v1/hub/webhooks/${created.body.id}/deliveries?limit=3`);
    expect(first.body.items.map((d: any) => d.id)).toEqual(deliveries.slice(0, 3).map((d) => d.id));
    const rest = await t.request(
      'GET',
      `/v1/hub/webhooks/${created.body.id}/deliveries?limit=3&cursor=${first.body.next_cursor}`,
    );
    expect(rest.body).toEqual({ items: [deliveries[3]], next_cursor: null });

    expect((await t.request('DELETE', `/v1/hub/webhooks/${created.body.id}`)).status).toBe(204);
  });

  it('retries a failing receiver with backoff and records the attempt that succeeded', async () => {
    const endpoint = await receiver({ secret: SECRET, answer: (_post, index) => (index < 2 ? 500 : 200) });
    const created = await t.request('POST', '/v1/hub/webhooks', {
      url: endpoint.url,
      events: ['job.completed'],
      secret: SECRET,
    });
    const sync = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/hooked' });
    await t.waitForJob(sync.body.job_id);

    const [delivery] = await deliveriesWhen(created.body.id, (items) => items[0]?.status === 'succeeded');
    expect(delivery).toMatchObject({
      event_type: 'job.completed',
      status: 'succeeded',
      attempts: 3,
      last_status_code: 200,
      last_error: null,
    });
    const posts = endpoint.received;
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => p.headers['x-modelhub-delivery']))).toEqual(new Set([delivery.id]));
    expect(new Set(posts.map((p) => p.rawBody)).size).toBe(1);
    expect(posts.every((p) => p.signatureValid)).toBe(true);
    expect(posts[0]?.body).toMatchObject({ type: 'job.completed', job_id: sync.body.job_id });
    // Backoff: at least half the exponential delay between attempts (base, then twice the base).
    const [a, b, c] = posts.map((p) => p.receivedAt) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(RETRY_BASE_MS / 2);
    expect(c - b).toBeGreaterThanOrEqual(RETRY_BASE_MS);
  });
});
