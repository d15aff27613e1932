import type { Kysely, Migration } from 'kysely';

/**
 * `jobs.taken_over_from`: the worker whose lapsed lease a job was last taken back from, so the next
 * run can say whose work it continues. Null for jobs that were never taken over.
 */
export const jobTakeover: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').addColumn('taken_over_from', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').dropColumn('taken_over_from').execute();
  },
};
