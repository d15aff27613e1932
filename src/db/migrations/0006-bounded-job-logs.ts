import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Bounded job logs: `jobs.log_lines` counts every line a job wrote (and numbers the next one), while
 * `job_logs` keeps only the first and last lines. Existing logs are counted and cut the same way;
 * the numbers are those of this migration (first 200, last 800), frozen here as it shipped.
 */
export const boundedJobLogs: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable('jobs')
      .addColumn('log_lines', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`update jobs set log_lines = (select coalesce(max(seq), 0) from job_logs where job_logs.job_id = jobs.id)`.execute(
      db,
    );
    await sql`delete from job_logs where seq > 200 and seq <= (select log_lines from jobs where jobs.id = job_logs.job_id) - 800`.execute(
      db,
    );
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('jobs').dropColumn('log_lines').execute();
  },
};
