import type { Kysely, Migration } from 'kysely';

export const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('model_repos')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('vendor', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('repo_id', 'text', (c) => c.notNull().unique())
      .addColumn('revision', 'text', (c) => c.notNull())
      .addColumn('commit_sha', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('last_synced_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('model_repos_created_idx')
      .on('model_repos')
      .columns(['created_at', 'id'])
      .execute();

    await db.schema
      .createTable('artifacts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model_id', 'text', (c) => c.notNull().references('model_repos.id').onDelete('cascade'))
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('file_type', 'text', (c) => c.notNull())
      .addColumn('upstream_oid', 'text')
      .addColumn('upstream_sha256', 'text')
      .addColumn('commit_sha', 'text')
      .addColumn('download_status', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text')
      .addColumn('local_path', 'text')
      .addColumn('bytes_downloaded', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('error', 'text')
      .addColumn('removed_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('artifacts_model_path_unique', ['model_id', 'path'])
      .execute();
    await db.schema
      .createIndex('artifacts_status_idx')
      .on('artifacts')
      .columns(['download_status'])
      .execute();
    await db.schema.createIndex('artifacts_sha256_idx').on('artifacts').columns(['sha256']).execute();

    await db.schema
      .createTable('jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('error', 'text')
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema.createIndex('jobs_created_idx').on('jobs').columns(['created_at', 'id']).execute();
    await db.schema
      .createIndex('jobs_status_created_idx')
      .on('jobs')
      .columns(['status', 'created_at'])
      .execute();
    await db.schema.createIndex('jobs_type_created_idx').on('jobs').columns(['type', 'created_at']).execute();

    await db.schema
      .createTable('job_logs')
      .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('job_logs_pk', ['job_id', 'seq'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    for (const table of ['job_logs', 'jobs', 'artifacts', 'model_repos']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
