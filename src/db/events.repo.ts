import { sql } from 'kysely';
import { newId } from '../clock.js';
import { type Db, isPostgres } from './connection.js';
import type { EventRow, EventType } from './schema.js';
import { WebhooksRepository } from './webhooks.repo.js';

export interface NewEventRow {
  type: EventType;
  at: string;
  jobId: string | null;
  modelId: string | null;
  artifactId: string | null;
  data: string;
}

export class EventsRepository {
  constructor(private readonly db: Db) {}

  async insert(event: NewEventRow): Promise<number> {
    const row = await this.db.insertInto('events').values(event).returning('seq').executeTakeFirstOrThrow();
    return Number(row.seq);
  }

  /**
   * Stores an event and queues one delivery per webhook subscribed to its type; returns the event's
   * seq and how many deliveries were queued. A delivery's body is `{"id":<seq>,` followed by
   * `bodyAfterId` (the rest of the event's JSON), since the seq is known only once the row exists.
   * On PostgreSQL it is one statement, so an event costs one round trip whatever the webhooks.
   */
  async insertWithDeliveries(
    event: NewEventRow,
    bodyAfterId: string,
  ): Promise<{ seq: number; deliveries: number }> {
    if (!isPostgres(this.db)) {
      const seq = await this.insert(event);
      const webhooks = new WebhooksRepository(this.db);
      const subscribers = await webhooks.subscribedTo(event.type);
      await webhooks.insertDeliveries(
        subscribers.map((w) => ({
          id: newId(),
          webhookId: w.id,
          eventSeq: seq,
          eventType: event.type,
          body: `{"id":${seq},${bodyAfterId}`,
          createdAt: event.at,
        })),
      );
      return { seq, deliveries: subscribers.length };
    }
    const { rows } = await sql<{ seq: string; deliveries: string }>`
      with event as (
        insert into events (type, at, job_id, model_id, artifact_id, data)
        values (${event.type}, ${event.at}, ${event.jobId}, ${event.modelId}, ${event.artifactId}, ${event.data})
        returning seq
      ), queued as (
        insert into webhook_deliveries
          (id, webhook_id, event_seq, event_type, body, status, next_attempt_at, created_at, updated_at)
        select gen_random_uuid()::text, webhooks.id, event.seq, ${event.type},
          '{"id":' || event.seq || ',' || ${bodyAfterId}, 'pending', ${event.at}, ${event.at}, ${event.at}
        from webhooks cross join event
        where webhooks.events::jsonb ? ${event.type}
        returning 1
      )
      select event.seq, (select count(*) from queued) as deliveries from event`.execute(this.db);
    const row = rows[0];
    if (!row) throw new Error('the event insert returned no row');
    return { seq: Number(row.seq), deliveries: Number(row.deliveries) };
  }

  /** Stored events after `afterSeq` in order, optionally of one job: what a resuming client missed. */
  async listAfter(afterSeq: number, options: { jobId?: string; limit: number }): Promise<EventRow[]> {
    let query = this.db.selectFrom('events').selectAll().where('seq', '>', afterSeq);
    if (options.jobId !== undefined) query = query.where('jobId', '=', options.jobId);
    return query.orderBy('seq').limit(options.limit).execute();
  }

  /** Events older than `before` are dropped; a client resuming from one of them gets what is left. */
  async deleteOlderThan(before: string): Promise<number> {
    const result = await this.db.deleteFrom('events').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
