import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Job creation that joins instead of duplicating. `dedup_key` names the work a job does (`sync:<model
 * id>`, …); a unique index over the active jobs only lets the database, not a check-then-insert,
 * decide that there is one pending or running job per key. `idempotency_key` is a client's
 * `Idempotency-Key`, with a fingerprint of the request that created the job. Jobs created before
 * this migration have neither, so they are never joined.
 */
export const jobDedup: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('dedup_key', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('idempotency_key', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('request_fingerprint', 'text').execute();
    await db.schema
      .createIndex('jobs_active_dedup_key_unique')
      .on('jobs')
      .column('dedup_key')
      .unique()
      .where(sql<boolean>`status in ('pending', 'running')`)
      .execute();
    await db.schema
      .createIndex('jobs_idempotency_key_unique')
      .on('jobs')
      .column('idempotency_key')
      .unique()
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('jobs_idempotency_key_unique').execute();
    await db.schema.dropIndex('jobs_active_dedup_key_unique').execute();
    await db.schema.alterTable('jobs').dropColumn('request_fingerprint').execute();
    await db.schema.alterTable('jobs').dropColumn('idempotency_key').execute();
    await db.schema.alterTable('jobs').dropColumn('dedup_key').execute();
  },
};
