import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DURABLE_EVENT_TYPES } from '../../src/events/hub-event.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 2;

let hub: FakeHub;
let t: TestApp;
let hung: WebhookReceiver;
let healthy: WebhookReceiver;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, {
    WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    WEBHOOK_RETRY_BASE_MS: '20',
  });
  // Accepts every connection and never answers.
  hung = await startWebhookReceiver({ answer: () => 'hang' });
  healthy = await startWebhookReceiver();
  await hub.addRepo({ id: 'org/slow-hooks', files: [{ path: 'config.json', content: '{"a":1}' }] });
  // A first sync warms the process up, so the timed one below measures the job, not the JIT.
  await hub.addRepo({ id: 'org/warm-up', files: [{ path: 'config.json', content: '{}' }] });
  await registerAndSync(t, 'org/warm-up');
});
afterAll(async () => {
  await t?.close();
  await hung?.close();
  await healthy?.close();
  await hub?.close();
});

async function deliveries(webhookId: string): Promise<any[]> {
  return (await t.request('GET', `/v1/hub/webhooks/${webhookId}/deliveries?limit=200`)).body.items;
}

describe('a receiver that never answers', () => {
  it('slows neither jobs nor other receivers, and ends dead after its attempts', async () => {
    const subscribe = async (url: string) =>
      (await t.request('POST', '/v1/hub/webhooks', { url, events: DURABLE_EVENT_TYPES })).body.id as string;
    const hungId = await subscribe(hung.url);
    const healthyId = await subscribe(healthy.url);

    const { job } = await registerAndSync(t, 'org/slow-hooks');
    expect(job.status).toBe('completed');
    // The job's own events (job.created among them) went to the hung receiver, yet the job did not
    // wait for even one of its attempts to time out.
    expect(Date.parse(job.finished_at) - Date.parse(job.created_at)).toBeLessThan(TIMEOUT_MS);
    const expected = ['artifact.completed', 'job.completed', 'job.created', 'model.synced'];

    // The healthy receiver gets everything while the hung one still holds its first attempts.
    await waitFor(
      'the healthy receiver to get every event',
      async () => (healthy.received.length === expected.length ? true : undefined),
      TIMEOUT_MS,
    );
    expect(healthy.received.map((p) => p.body.type).sort()).toEqual(expected);
    expect((await deliveries(hungId)).every((d) => d.status === 'pending')).toBe(true);

    const dead = await waitFor(
      'the hung deliveries to die',
      async () => {
        const items = await deliveries(hungId);
        return items.length === expected.length && items.every((d) => d.status === 'dead')
          ? items
          : undefined;
      },
      20_000,
    );
    for (const delivery of dead) {
      expect(delivery).toMatchObject({
        attempts: MAX_ATTEMPTS,
        next_attempt_at: null,
        last_status_code: null,
        last_error: `timed out after ${TIMEOUT_MS} ms`,
        delivered_at: null,
      });
    }
    expect(hung.received).toHaveLength(expected.length * MAX_ATTEMPTS);
    // Its own two slots only: a third attempt starts only once an earlier one has timed out (the
    // timeout clock starts a little before the request reaches the receiver, hence the margin).
    const arrivals = hung.received.map((p) => p.receivedAt).sort((a, b) => a - b);
    for (let i = 2; i < arrivals.length; i++) {
      expect((arrivals[i] ?? 0) - (arrivals[i - 2] ?? 0)).toBeGreaterThanOrEqual(TIMEOUT_MS / 2);
    }
    expect((await deliveries(healthyId)).map((d) => d.status)).toEqual(expected.map(() => 'succeeded'));

    const [latest] = dead;
    const redelivered = await t.request(
      'POST',
      `/v1/hub/webhooks/${hungId}/deliveries/${latest.id}/redeliver`,
    );
    expect(redelivered.status).toBe(202);
    expect(redelivered.body).toMatchObject({
      id: latest.id,
      event_id: latest.event_id,
      status: 'pending',
      attempts: 0,
      next_attempt_at: expect.any(String),
      delivered_at: null,
    });
    const after = (await deliveries(hungId)).find((d) => d.id === latest.id);
    expect(after.status).toBe('pending');

    const again = await t.request('POST', `/v1/hub/webhooks/${hungId}/deliveries/${latest.id}/redeliver`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('DELIVERY_PENDING');
    const unknown = await t.request(
      'POST',
      `/v1/hub/webhooks/${hungId}/deliveries/00000000-0000-4000-8000-000000000000/redeliver`,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('DELIVERY_NOT_FOUND');
  });
});
