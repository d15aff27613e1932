import type { Db } from './connection.js';
import { fromJson, toJson } from './json.js';
import type { EventType, WebhookDeliveryRow, WebhookRow } from './schema.js';

export interface NewDelivery {
  id: string;
  webhookId: string;
  eventSeq: number;
  eventType: EventType;
  body: string;
  createdAt: string;
}

export interface NewWebhook {
  id: string;
  url: string;
  events: readonly EventType[];
  /** As it is to be stored (sealed by the caller when SECRETS_KEY is set). */
  secret: string | null;
  createdAt: string;
}

/** Keyset position in a webhook's delivery log: strictly older than this. */
export interface DeliveryPosition {
  createdAt: string;
  eventSeq: number;
  id: string;
}

/** A delivery this dispatcher now holds, with where and how to send it (read at claim time). */
export interface ClaimedDelivery extends WebhookDeliveryRow {
  url: string;
  /** As stored: plain, or sealed by SecretBox; never logged. */
  secret: string | null;
}

/** The outcome of one attempt; `attempts` counts finished attempts, so each of these adds one. */
export interface AttemptOutcome {
  at: string;
  statusCode: number | null;
  error: string | null;
}

export class WebhooksRepository {
  constructor(private readonly db: Db) {}

  /** Webhooks subscribed to `type`. The list is small (a handful per hub), so it is filtered here. */
  async subscribedTo(type: EventType): Promise<WebhookRow[]> {
    const all = await this.db.selectFrom('webhooks').selectAll().execute();
    return all.filter((w) => (fromJson<string[]>(w.events) ?? []).includes(type));
  }

  async insertDeliveries(deliveries: readonly NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhookDeliveries')
      .values(
        deliveries.map((d) => ({
          ...d,
          status: 'pending' as const,
          nextAttemptAt: d.createdAt,
          updatedAt: d.createdAt,
        })),
      )
      .execute();
  }

  async create(webhook: NewWebhook): Promise<WebhookRow> {
    return this.db
      .insertInto('webhooks')
      .values({
        id: webhook.id,
        url: webhook.url,
        events: toJson(webhook.events),
        secret: webhook.secret,
        createdAt: webhook.createdAt,
        updatedAt: webhook.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Oldest first: the order they were registered in. */
  async list(): Promise<WebhookRow[]> {
    return this.db.selectFrom('webhooks').selectAll().orderBy('createdAt').orderBy('id').execute();
  }

  async findById(id: string): Promise<WebhookRow | undefined> {
    return this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Swaps the stored secret only if it is still `from`; false when it changed meanwhile. */
  async replaceSecret(id: string, from: string, to: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhooks')
      .set({ secret: to })
      .where('id', '=', id)
      .where('secret', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Deletes the webhook and (by cascade) its deliveries; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  /**
   * A webhook's deliveries, newest first. Deliveries of one event share `createdAt`, and a webhook
   * has one delivery per event, so `eventSeq` orders them within a millisecond.
   */
  async listDeliveries(
    webhookId: string,
    page: { limit: number; before?: DeliveryPosition },
  ): Promise<WebhookDeliveryRow[]> {
    let query = this.db.selectFrom('webhookDeliveries').selectAll().where('webhookId', '=', webhookId);
    const before = page.before;
    if (before) {
      query = query.where((eb) =>
        eb.or([
          eb('createdAt', '<', before.createdAt),
          eb.and([eb('createdAt', '=', before.createdAt), eb('eventSeq', '<', before.eventSeq)]),
          eb.and([
            eb('createdAt', '=', before.createdAt),
            eb('eventSeq', '=', before.eventSeq),
            eb('id', '<', before.id),
          ]),
        ]),
      );
    }
    return query
      .orderBy('createdAt', 'desc')
      .orderBy('eventSeq', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit)
      .execute();
  }

  async findDelivery(webhookId: string, deliveryId: string): Promise<WebhookDeliveryRow | undefined> {
    return this.db
      .selectFrom('webhookDeliveries')
      .selectAll()
      .where('id', '=', deliveryId)
      .where('webhookId', '=', webhookId)
      .executeTakeFirst();
  }

  /** Webhooks with at least one delivery due now, so a dispatcher can share its slots among them. */
  async dueWebhookIds(now: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhookDeliveries')
      .select('webhookId')
      .distinct()
      .where('status', '=', 'pending')
      .where('nextAttemptAt', '<=', now)
      .where((eb) => eb.or([eb('lockedUntil', 'is', null), eb('lockedUntil', '<', now)]))
      .execute();
    return rows.map((r) => r.webhookId);
  }

  /**
   * Takes up to `limit` due deliveries (of one webhook when `webhookId` is given), oldest due first,
   * locking each for `owner` until `lockUntil`. Portable optimistic claim: candidates are read, then
   * each is taken by an update that repeats the due condition, so of several dispatchers racing for
   * a row exactly one update matches it; the others skip it. A holder that dies frees its rows when
   * `lockUntil` passes.
   */
  async claimDue(
    owner: string,
    now: string,
    lockUntil: string,
    limit: number,
    webhookId?: string,
  ): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    let candidates = this.db
      .selectFrom('webhookDeliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhookId')
      .selectAll('d')
      .select(['w.url', 'w.secret'])
      .where('d.status', '=', 'pending')
      .where('d.nextAttemptAt', '<=', now)
      .where((eb) => eb.or([eb('d.lockedUntil', 'is', null), eb('d.lockedUntil', '<', now)]));
    if (webhookId !== undefined) candidates = candidates.where('d.webhookId', '=', webhookId);
    // Read a few more than wanted: some may be taken by another dispatcher between read and update.
    const rows = await candidates
      .orderBy('d.nextAttemptAt')
      .orderBy('d.id')
      .limit(limit * 2)
      .execute();

    const claimed: ClaimedDelivery[] = [];
    for (const row of rows) {
      if (claimed.length === limit) break;
      const result = await this.db
        .updateTable('webhookDeliveries')
        .set({ lockedBy: owner, lockedUntil: lockUntil, updatedAt: now })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .where('nextAttemptAt', '<=', now)
        .where((eb) => eb.or([eb('lockedUntil', 'is', null), eb('lockedUntil', '<', now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) {
        claimed.push({ ...row, lockedBy: owner, lockedUntil: lockUntil, updatedAt: now });
      }
    }
    return claimed;
  }

  /** False when `owner` no longer held the delivery (its lock lapsed and another dispatcher took it). */
  async markSucceeded(id: string, owner: string, outcome: AttemptOutcome): Promise<boolean> {
    return this.finishAttempt(id, owner, {
      status: 'succeeded',
      deliveredAt: outcome.at,
      lastStatusCode: outcome.statusCode,
      lastError: null,
      updatedAt: outcome.at,
    });
  }

  async markRetry(
    id: string,
    owner: string,
    outcome: AttemptOutcome & { nextAttemptAt: string },
  ): Promise<boolean> {
    return this.finishAttempt(id, owner, {
      nextAttemptAt: outcome.nextAttemptAt,
      lastStatusCode: outcome.statusCode,
      lastError: outcome.error,
      updatedAt: outcome.at,
    });
  }

  async markDead(id: string, owner: string, outcome: AttemptOutcome): Promise<boolean> {
    return this.finishAttempt(id, owner, {
      status: 'dead',
      lastStatusCode: outcome.statusCode,
      lastError: outcome.error,
      updatedAt: outcome.at,
    });
  }

  /** Gives back deliveries `owner` holds without counting an attempt (the dispatcher is stopping). */
  async release(ids: readonly string[], owner: string, at: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('webhookDeliveries')
      .set({ lockedBy: null, lockedUntil: null, updatedAt: at })
      .where('id', 'in', ids)
      .where('lockedBy', '=', owner)
      .where('status', '=', 'pending')
      .execute();
  }

  /**
   * A finished (dead or succeeded) delivery goes back to pending, due now, with a fresh attempt
   * budget. Undefined when there is no such delivery or it is still pending.
   */
  async redeliver(
    webhookId: string,
    deliveryId: string,
    now: string,
  ): Promise<WebhookDeliveryRow | undefined> {
    return this.db
      .updateTable('webhookDeliveries')
      .set({
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        deliveredAt: null,
        lockedBy: null,
        lockedUntil: null,
        updatedAt: now,
      })
      .where('id', '=', deliveryId)
      .where('webhookId', '=', webhookId)
      .where('status', 'in', ['dead', 'succeeded'])
      .returningAll()
      .executeTakeFirst();
  }

  private async finishAttempt(
    id: string,
    owner: string,
    changes: {
      status?: 'succeeded' | 'dead';
      nextAttemptAt?: string;
      deliveredAt?: string;
      lastStatusCode: number | null;
      lastError: string | null;
      updatedAt: string;
    },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('webhookDeliveries')
      .set((eb) => ({
        ...changes,
        attempts: eb('attempts', '+', 1),
        lockedBy: null,
        lockedUntil: null,
      }))
      .where('id', '=', id)
      .where('lockedBy', '=', owner)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
