import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, nowIso } from '../../src/clock.js';
import { WebhooksRepository } from '../../src/db/webhooks.repo.js';
import { LocalEventBus } from '../../src/events/event-bus.js';
import { EventLog } from '../../src/events/event-log.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'do-not-leak-this-secret-1234';
// A public address from a documentation range: registering needs no DNS and nothing is ever sent
// to it, since no test here produces an event it is subscribed to.
const PUBLIC_URL = 'https://93.184.215.14/hooks/model-hub';
const MISSING = '00000000-0000-4000-8000-000000000000';

let hub: FakeHub;
let t: TestApp;
let receiver: WebhookReceiver;

beforeAll(async () => {
  hub = await startFakeHub();
  // The test app listens on loopback, where `auto` would allow private targets; refuse them here.
  t = await startTestApp(hub.url, { WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_MAX_ATTEMPTS: '1' });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
  await hub?.close();
});

const register = (body: unknown) => t.request('POST', '/v1/hub/webhooks', body);

describe('POST /v1/hub/webhooks refuses', () => {
  it.each([
    ['ftp://example.com/hook', 'INVALID_WEBHOOK_URL', 'url must use http or https, not ftp'],
    ['not a url', 'INVALID_WEBHOOK_URL', 'url is not an absolute URL'],
    ['https://user:pw@93.184.215.14/hook', 'INVALID_WEBHOOK_URL', 'url must not contain credentials'],
    ['http://127.0.0.1:9/hook', 'INVALID_WEBHOOK_URL', '127.0.0.1 is refused'],
    ['http://localhost:9/hook', 'INVALID_WEBHOOK_URL', 'host localhost resolves to'],
    ['http://[::1]:9/hook', 'INVALID_WEBHOOK_URL', '::1 is refused'],
    ['http://169.254.169.254/latest/meta-data/', 'INVALID_WEBHOOK_URL', '169.254.169.254 is refused'],
    ['http://10.20.30.40/hook', 'INVALID_WEBHOOK_URL', '10.20.30.40 is refused'],
    ['http://[::ffff:c0a8:1]/hook', 'INVALID_WEBHOOK_URL', 'is refused'],
  ])('%s', async (url, code, message) => {
    const refused = await register({ url, events: ['job.completed'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code, message: expect.stringContaining(message) });
  });

  it('private targets with a message naming the setting that allows them', async () => {
    const refused = await register({ url: 'http://127.0.0.1:9/hook', events: ['job.completed'] });
    expect(refused.body.error.message).toBe(
      'url: 127.0.0.1 is refused: webhooks may not target private, loopback or link-local addresses here (WEBHOOK_ALLOW_PRIVATE)',
    );
  });

  it('job.progress, which is streamed live only', async () => {
    const refused = await register({ url: PUBLIC_URL, events: ['job.completed', 'job.progress'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('INVALID_EVENT_TYPE');
    expect(refused.body.error.message).toContain('job.progress is streamed live over SSE only');
  });

  it('unknown event types, listing the valid ones', async () => {
    const refused = await register({ url: PUBLIC_URL, events: ['job.exploded'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'INVALID_EVENT_TYPE',
      message:
        'events: unknown event type "job.exploded"; a webhook may subscribe to job.created, job.completed, job.failed, job.cancelled, artifact.completed, artifact.failed, model.synced',
    });
  });

  it.each([
    [{ url: PUBLIC_URL, events: [] }, 'body.events must NOT have fewer than 1 items'],
    [{ events: ['job.completed'] }, 'body.url is required'],
    [{ url: PUBLIC_URL }, 'body.events is required'],
    [{ url: PUBLIC_URL, events: ['job.completed'], secret: 'short' }, 'body.secret must NOT have fewer'],
    [{ url: PUBLIC_URL, events: ['job.completed'], active: true }, 'unknown field "active"'],
    [{ url: 42, events: ['job.completed'] }, 'body.url must be string'],
  ])('malformed body %j', async (body, message) => {
    const refused = await register(body);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(refused.body.error.message).toContain(message);
  });
});

describe('webhook resources', () => {
  it('are created, listed, shown and deleted without ever showing the secret', async () => {
    const signed = await register({
      url: PUBLIC_URL,
      events: ['job.failed', 'artifact.failed', 'job.failed'],
      secret: SECRET,
    });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({
      url: PUBLIC_URL,
      events: ['job.failed', 'artifact.failed'],
      has_secret: true,
    });
    const unsigned = await register({ url: 'http://93.184.215.15:8080', events: ['artifact.failed'] });
    expect(unsigned.body).toMatchObject({ url: 'http://93.184.215.15:8080/', has_secret: false });

    const list = await t.request('GET', '/v1/hub/webhooks');
    expect(list.status).toBe(200);
    expect(list.body.items.map((w: any) => w.id)).toEqual([signed.body.id, unsigned.body.id]);
    const one = await t.request('GET', `/v1/hub/webhooks/${signed.body.id}`);
    expect(one).toEqual({ status: 200, body: signed.body });
    const deliveries = await t.request('GET', `/v1/hub/webhooks/${signed.body.id}/deliveries`);
    expect(deliveries).toEqual({ status: 200, body: { items: [], next_cursor: null } });
    for (const response of [signed, unsigned, list, one, deliveries]) {
      expect(JSON.stringify(response.body)).not.toContain(SECRET);
      expect(JSON.stringify(response.body)).not.toContain('"secret"');
    }

    expect((await t.request('DELETE', `/v1/hub/webhooks/${signed.body.id}`)).status).toBe(204);
    expect((await t.request('DELETE', `/v1/hub/webhooks/${unsigned.body.id}`)).status).toBe(204);
    const gone = await t.request('GET', `/v1/hub/webhooks/${signed.body.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('WEBHOOK_NOT_FOUND');
    expect((await t.request('DELETE', `/v1/hub/webhooks/${signed.body.id}`)).status).toBe(404);
    expect((await t.request('GET', '/v1/hub/webhooks')).body.items).toEqual([]);
  });

  it('answer 404 for unknown ids and 400 for malformed ones or cursors', async () => {
    for (const url of [`/v1/hub/webhooks/${MISSING}`, `/v1/hub/webhooks/${MISSING}/deliveries`]) {
      const response = await t.request('GET', url);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('WEBHOOK_NOT_FOUND');
    }
    const redeliver = await t.request('POST', `/v1/hub/webhooks/${MISSING}/deliveries/${MISSING}/redeliver`);
    expect(redeliver.status).toBe(404);
    expect((await t.request('GET', '/v1/hub/webhooks/not-a-uuid')).status).toBe(400);

    const webhook = await register({ url: PUBLIC_URL, events: ['artifact.failed'] });
    for (const query of ['cursor=garbage', 'limit=0', 'limit=201', 'colour=blue']) {
      const response = await t.request('GET', `/v1/hub/webhooks/${webhook.body.id}/deliveries?${query}`);
      expect(response.status).toBe(400);
    }
    await t.request('DELETE', `/v1/hub/webhooks/${webhook.body.id}`);
  });
});

describe('the URL policy at delivery time', () => {
  it('fails the attempt with a clear error, without connecting, when the target became private', async () => {
    // Stored directly: the state left by a registration whose name later resolves to loopback.
    const repo = new WebhooksRepository(t.app.db);
    const webhook = await repo.create({
      id: newId(),
      url: `http://localhost:${receiver.port}/hook`,
      events: ['job.completed'],
      secret: SECRET,
      createdAt: nowIso(),
    });
    await new EventLog(t.app.db, new LocalEventBus()).record({ type: 'job.completed', data: {} });

    const [delivery] = await waitFor(
      'the refused attempt',
      async () => {
        const page = await t.request('GET', `/v1/hub/webhooks/${webhook.id}/deliveries`);
        return page.body.items[0]?.status === 'dead' ? page.body.items : undefined;
      },
      10_000,
    );
    expect(delivery).toMatchObject({ attempts: 1, last_status_code: null, delivered_at: null });
    expect(delivery.last_error).toMatch(
      /^url: host localhost resolves to (127\.0\.0\.1|::1), which is refused: .*\(WEBHOOK_ALLOW_PRIVATE\)$/,
    );
    expect(receiver.received).toEqual([]);
  });
});
