import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from '../connection.js';

/**
 * Progress, events and webhooks. `events` is the durable event log (its `seq` is the SSE event id a
 * client resumes from); `webhook_deliveries` is the outbox: one row per (event, subscribed webhook),
 * written in the same transaction as the state change the event describes, so a restart loses none.
 */
export const events: Migration = {
  async up(db: Kysely<unknown>) {
    const postgres = isPostgres(db);
    // Sorted and range-compared text must compare bytewise on PostgreSQL too (see 0002-leases).
    const sortable = postgres ? sql`text collate "C"` : sql`text`;

    await db.schema.alterTable('jobs').addColumn('progress', 'text').execute();

    await db.schema
      .createTable('events')
      .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) =>
        postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('at', sortable, (c) => c.notNull())
      .addColumn('job_id', 'text')
      .addColumn('model_id', 'text')
      .addColumn('artifact_id', 'text')
      .addColumn('data', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_job_seq_idx').on('events').columns(['job_id', 'seq']).execute();
    await db.schema.createIndex('events_at_idx').on('events').columns(['at']).execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('secret', 'text')
      .addColumn('created_at', sortable, (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', sortable, (c) => c.primaryKey())
      .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
      .addColumn('event_seq', 'bigint', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', sortable, (c) => c.notNull())
      .addColumn('locked_by', 'text')
      .addColumn('locked_until', sortable)
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('created_at', sortable, (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('delivered_at', 'text')
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_due_idx')
      .on('webhook_deliveries')
      .columns(['status', 'next_attempt_at'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_webhook_idx')
      .on('webhook_deliveries')
      .columns(['webhook_id', 'created_at', 'id'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('webhook_deliveries').execute();
    await db.schema.dropTable('webhooks').execute();
    await db.schema.dropTable('events').execute();
    await db.schema.alterTable('jobs').dropColumn('progress').execute();
  },
};
