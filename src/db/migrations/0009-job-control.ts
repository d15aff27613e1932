import type { Kysely, Migration } from 'kysely';

/**
 * Job cancel and retry. `cancel_requested_at`: a cancel of a running job was asked for; the job is
 * never claimed again and ends `cancelled` (statuses are free text, so `cancelled` needs no change
 * of its own). `retry_of`: the failed or cancelled job a job retries.
 */
export const jobControl: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('cancel_requested_at', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('retry_of', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').dropColumn('retry_of').execute();
    await db.schema.alterTable('jobs').dropColumn('cancel_requested_at').execute();
  },
};
