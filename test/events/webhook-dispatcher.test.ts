import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId, nowIso } from '../../src/clock.js';
import { type Db, openDatabase } from '../../src/db/connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { SecretBox } from '../../src/db/secret-box.js';
import { WebhooksRepository } from '../../src/db/webhooks.repo.js';
import { LocalEventBus } from '../../src/events/event-bus.js';
import { EventLog } from '../../src/events/event-log.js';
import { UrlPolicy } from '../../src/events/url-policy.js';
import { retryDelayMs, WebhookDispatcher } from '../../src/events/webhook-dispatcher.js';
import { createLogger } from '../../src/logger.js';
import { waitFor } from '../support/child-server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

describe('retryDelayMs', () => {
  it('doubles per attempt, half of it jitter', () => {
    expect(retryDelayMs(1, 1000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, () => 1)).toBe(1000);
    expect(retryDelayMs(2, 1000, () => 0)).toBe(1000);
    expect(retryDelayMs(4, 1000, () => 1)).toBe(8000);
    expect(retryDelayMs(3, 1000, () => 0.5)).toBe(3000);
  });

  it('is capped at one hour', () => {
    expect(retryDelayMs(30, 1000, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(30, 1000, () => 0)).toBe(1_800_000);
  });
});

describe('WebhookDispatcher claims', () => {
  let dir: string;
  let db: Db;
  let repo: WebhooksRepository;
  let receiver: WebhookReceiver | undefined;
  const dispatchers: WebhookDispatcher[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'webhook-dispatcher-'));
    db = openDatabase({ dialect: 'sqlite', filename: path.join(dir, 'hub.sqlite') });
    await migrateToLatest(db);
    repo = new WebhooksRepository(db);
  });
  afterEach(async () => {
    for (const dispatcher of dispatchers.splice(0)) await dispatcher.stop();
    await receiver?.close();
    await db.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function dispatcher(owner: string, bus = new LocalEventBus(), timeoutMs = 10_000) {
    const created = new WebhookDispatcher({
      webhooks: repo,
      deliveriesQueued: (wake) => bus.subscribe(() => wake()),
      policy: new UrlPolicy({ allowPrivate: true }),
      secrets: new SecretBox(),
      owner,
      timeoutMs,
      maxAttempts: 3,
      retryBaseMs: 10,
      userAgent: 'test',
      logger: createLogger('silent'),
      pollIntervalMs: 50,
    });
    dispatchers.push(created);
    return created;
  }

  async function subscribe(url: string) {
    return repo.create({ id: newId(), url, events: ['job.completed'], secret: null, createdAt: nowIso() });
  }

  it('hands a delivery in flight back at stop, uncounted, for the next dispatcher to send', async () => {
    receiver = await startWebhookReceiver({ answer: (_post, index) => (index === 0 ? 'hang' : 204) });
    const webhook = await subscribe(receiver.url);
    const bus = new LocalEventBus();
    const first = dispatcher('first', bus);
    first.start();
    await new EventLog(db, bus).record({ type: 'job.completed', data: {} });
    await waitFor('the first attempt to reach the receiver', async () => receiver?.received[0], 5000);

    const [held] = await repo.listDeliveries(webhook.id, { limit: 10 });
    expect(held).toMatchObject({ status: 'pending', attempts: 0, lockedBy: 'first' });
    await first.stop();
    expect(await repo.findDelivery(webhook.id, held?.id ?? '')).toMatchObject({
      status: 'pending',
      attempts: 0,
      lockedBy: null,
      lockedUntil: null,
    });

    dispatcher('second').start();
    const delivered = await waitFor(
      'the second dispatcher to deliver it',
      async () => {
        const row = await repo.findDelivery(webhook.id, held?.id ?? '');
        return row?.status === 'succeeded' ? row : undefined;
      },
      5000,
    );
    expect(delivered).toMatchObject({ attempts: 1, lastStatusCode: 204, lockedBy: null });
    expect(receiver.received.map((p) => p.headers['x-modelhub-delivery'])).toEqual([held?.id, held?.id]);
  });

  it('takes over a claim whose holder died once its lock lapses, and not before', async () => {
    receiver = await startWebhookReceiver();
    const webhook = await subscribe(receiver.url);
    await new EventLog(db, new LocalEventBus()).record(
      { type: 'job.completed', data: { n: 1 } },
      { type: 'job.completed', data: { n: 2 } },
    );
    const [newer, older] = await repo.listDeliveries(webhook.id, { limit: 10 });
    if (!newer || !older) throw new Error('expected two deliveries');
    const future = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    await db
      .updateTable('webhookDeliveries')
      .set({ lockedBy: 'dead-process', lockedUntil: future })
      .where('id', '=', newer.id)
      .execute();
    await db
      .updateTable('webhookDeliveries')
      .set({ lockedBy: 'dead-process', lockedUntil: past })
      .where('id', '=', older.id)
      .execute();

    dispatcher('survivor').start();
    await waitFor(
      'the lapsed claim to be delivered',
      async () =>
        (await repo.findDelivery(webhook.id, older.id))?.status === 'succeeded' ? true : undefined,
      5000,
    );
    expect(receiver.received.map((p) => p.headers['x-modelhub-delivery'])).toEqual([older.id]);
    expect(await repo.findDelivery(webhook.id, newer.id)).toMatchObject({
      status: 'pending',
      lockedBy: 'dead-process',
      attempts: 0,
    });
  });
});
