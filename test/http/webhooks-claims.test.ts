import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, nowIso } from '../../src/clock.js';
import { SecretBox } from '../../src/db/secret-box.js';
import { WebhooksRepository } from '../../src/db/webhooks.repo.js';
import { LocalEventBus } from '../../src/events/event-bus.js';
import { EventLog } from '../../src/events/event-log.js';
import { UrlPolicy } from '../../src/events/url-policy.js';
import { WebhookDispatcher } from '../../src/events/webhook-dispatcher.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Several processes dispatch from one database (every process runs a dispatcher): here the app's own
 * dispatcher and three more on the same database (SQLite, or a PostgreSQL pool) race for every delivery.
 */
let hub: FakeHub;
let t: TestApp;
let receiver: WebhookReceiver;
const extra: WebhookDispatcher[] = [];

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  for (const dispatcher of extra) await dispatcher.stop();
  await t?.close();
  await receiver?.close();
  await hub?.close();
});

describe('webhook delivery claims', () => {
  it('sends each delivery exactly once when several dispatchers race for it', async () => {
    const repo = new WebhooksRepository(t.app.db);
    const webhook = await repo.create({
      id: newId(),
      url: receiver.url,
      events: ['job.completed'],
      secret: null,
      createdAt: nowIso(),
    });
    const bus = new LocalEventBus();
    for (const owner of ['racer-a', 'racer-b', 'racer-c']) {
      const dispatcher = new WebhookDispatcher({
        webhooks: repo,
        deliveriesQueued: (wake) => bus.subscribe(() => wake()),
        policy: new UrlPolicy({ allowPrivate: true }),
        secrets: new SecretBox(),
        owner,
        timeoutMs: 5000,
        maxAttempts: 3,
        retryBaseMs: 10,
        userAgent: 'test',
        logger: createLogger('silent'),
        pollIntervalMs: 20,
      });
      extra.push(dispatcher);
      dispatcher.start();
    }
    const log = new EventLog(t.app.db, bus);
    for (let n = 0; n < 40; n++) await log.record({ type: 'job.completed', data: { n } });

    const deliveries = await waitFor(
      'every delivery to succeed',
      async () => {
        const page = await t.request('GET', `/v1/hub/webhooks/${webhook.id}/deliveries?limit=200`);
        return page.body.items.length === 40 && page.body.items.every((d: any) => d.status === 'succeeded')
          ? page.body.items
          : undefined;
      },
      20_000,
    );
    const sent = receiver.received.map((p) => String(p.headers['x-modelhub-delivery']));
    expect(sent).toHaveLength(40);
    expect(new Set(sent).size).toBe(40);
    expect([...sent].sort()).toEqual(deliveries.map((d: any) => d.id).sort());
    expect(deliveries.every((d: any) => d.attempts === 1)).toBe(true);
    expect(new Set(receiver.received.map((p) => p.body.data.n))).toEqual(new Set([...Array(40).keys()]));
  });
});
