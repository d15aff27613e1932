import { newId, nowIso } from '../clock.js';
import { fromJson } from '../db/json.js';
import type { DeliveryStatus, EventType, WebhookDeliveryRow, WebhookRow } from '../db/schema.js';
import { isSealed, type SecretBox, SecretUnreadable } from '../db/secret-box.js';
import type { DeliveryPosition, WebhooksRepository } from '../db/webhooks.repo.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import { DURABLE_EVENT_TYPES } from '../events/hub-event.js';
import type { UrlPolicy } from '../events/url-policy.js';
import { decodeCursor, encodeCursor } from './cursor.js';

/** A webhook as the API shows it: whether it has a secret, never the secret. */
export interface WebhookView {
  id: string;
  url: string;
  events: EventType[];
  hasSecret: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryView {
  id: string;
  /** The event's sequence number (its SSE id, and `id` in the POSTed body). */
  eventId: number;
  eventType: EventType;
  status: DeliveryStatus;
  attempts: number;
  /** When the next attempt is due; null once the delivery succeeded or is dead. */
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface NewWebhookRequest {
  url: string;
  events: readonly string[];
  secret?: string;
}

/** What `protectSecrets` found (and did) at start. */
export interface SecretsReport {
  /** Secrets still stored plain (no SECRETS_KEY). */
  plain: number;
  /** Plain secrets this call encrypted (a key is set). */
  encrypted: number;
  /** Encrypted secrets this process cannot open (no key, or another key): their deliveries fail. */
  unreadable: number;
}

export class WebhooksService {
  /**
   * `secrets` seals each secret before it is stored; `onDeliveryDue` wakes this process's dispatcher
   * when a redelivery is queued.
   */
  constructor(
    private readonly webhooks: WebhooksRepository,
    private readonly policy: UrlPolicy,
    private readonly secrets: SecretBox,
    private readonly onDeliveryDue: () => void = () => {},
  ) {}

  /**
   * Run at start. With a key, secrets stored plain (before the key was set) are encrypted in place,
   * and encrypted ones this key cannot open are counted; without one, plain secrets are counted.
   */
  async protectSecrets(): Promise<SecretsReport> {
    const report: SecretsReport = { plain: 0, encrypted: 0, unreadable: 0 };
    for (const { id, secret } of await this.webhooks.list()) {
      if (secret === null) continue;
      if (!isSealed(secret)) {
        if (!this.secrets.encrypts) report.plain++;
        // Compare-and-set: another process starting at the same time may have sealed it already.
        else if (await this.webhooks.replaceSecret(id, secret, this.secrets.seal(secret))) report.encrypted++;
        continue;
      }
      try {
        this.secrets.open(secret);
      } catch (error) {
        if (!(error instanceof SecretUnreadable)) throw error;
        report.unreadable++;
      }
    }
    return report;
  }

  async createWebhook(request: NewWebhookRequest): Promise<WebhookView> {
    const events = subscribableEvents(request.events);
    const url = await this.policy.check(request.url);
    const row = await this.webhooks.create({
      id: newId(),
      url: url.href,
      events,
      secret: request.secret === undefined ? null : this.secrets.seal(request.secret),
      createdAt: nowIso(),
    });
    return toWebhookView(row);
  }

  async listWebhooks(): Promise<WebhookView[]> {
    return (await this.webhooks.list()).map(toWebhookView);
  }

  async getWebhook(id: string): Promise<WebhookView> {
    return toWebhookView(await this.existing(id));
  }

  /** Its pending deliveries go with it. */
  async deleteWebhook(id: string): Promise<void> {
    if (!(await this.webhooks.delete(id))) throw webhookNotFound(id);
  }

  async listDeliveries(
    webhookId: string,
    query: { limit: number; cursor?: string },
  ): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
    await this.existing(webhookId);
    const before =
      query.cursor === undefined
        ? undefined
        : toPosition(decodeCursor(query.cursor, ['string', 'integer', 'string']));
    const rows = await this.webhooks.listDeliveries(webhookId, {
      limit: query.limit + 1,
      ...(before ? { before } : {}),
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(toDeliveryView),
      nextCursor:
        rows.length > query.limit && last ? encodeCursor([last.createdAt, last.eventSeq, last.id]) : null,
    };
  }

  /** A dead or succeeded delivery is sent again, with a fresh attempt budget. */
  async redeliver(webhookId: string, deliveryId: string): Promise<DeliveryView> {
    await this.existing(webhookId);
    const requeued = await this.webhooks.redeliver(webhookId, deliveryId, nowIso());
    if (requeued) {
      this.onDeliveryDue();
      return toDeliveryView(requeued);
    }
    const delivery = await this.webhooks.findDelivery(webhookId, deliveryId);
    if (!delivery) {
      throw new NotFound('DELIVERY_NOT_FOUND', `Delivery ${deliveryId} of webhook ${webhookId} not found`);
    }
    throw new Conflict(
      'DELIVERY_PENDING',
      `Delivery ${deliveryId} is still pending (attempt ${delivery.attempts + 1} is due at ${delivery.nextAttemptAt}); only dead or succeeded deliveries can be redelivered`,
    );
  }

  private async existing(id: string): Promise<WebhookRow> {
    const row = await this.webhooks.findById(id);
    if (!row) throw webhookNotFound(id);
    return row;
  }
}

function webhookNotFound(id: string): NotFound {
  return new NotFound('WEBHOOK_NOT_FOUND', `Webhook ${id} not found`);
}

/** Durable event types only, each once; `job.progress` is live-only and has no deliveries. */
function subscribableEvents(requested: readonly string[]): EventType[] {
  const durable: readonly string[] = DURABLE_EVENT_TYPES;
  const unique = [...new Set(requested)];
  for (const type of unique) {
    if (type === 'job.progress') {
      throw new Invalid(
        'INVALID_EVENT_TYPE',
        'events: job.progress is streamed live over SSE only and cannot be delivered to a webhook; subscribe to job.completed or job.failed instead',
      );
    }
    if (!durable.includes(type)) {
      throw new Invalid(
        'INVALID_EVENT_TYPE',
        `events: unknown event type "${type}"; a webhook may subscribe to ${DURABLE_EVENT_TYPES.join(', ')}`,
      );
    }
  }
  return unique as EventType[];
}

function toWebhookView(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: fromJson<EventType[]>(row.events) ?? [],
    hasSecret: row.secret !== null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toDeliveryView(row: WebhookDeliveryRow): DeliveryView {
  return {
    id: row.id,
    eventId: row.eventSeq,
    eventType: row.eventType,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt : null,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
  };
}

function toPosition([createdAt, eventSeq, id]: readonly [string, number, string]): DeliveryPosition {
  return { createdAt, eventSeq, id };
}
