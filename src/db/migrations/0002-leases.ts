import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from '../connection.js';

/**
 * Distributed mode: running jobs carry a lease (owner + expiry) that their worker renews, and
 * `leases` holds named locks (one per content being downloaded) that lapse when their holder dies.
 * On PostgreSQL, text columns that are sorted or compared by range use the bytewise "C" collation,
 * so keyset paging and ISO-8601 comparisons behave exactly as on SQLite whatever the locale.
 */
export const leases: Migration = {
  async up(db: Kysely<unknown>) {
    const postgres = isPostgres(db);
    await db.schema.alterTable('jobs').addColumn('lease_owner', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('lease_expires_at', 'text').execute();
    await db.schema
      .createIndex('jobs_status_lease_idx')
      .on('jobs')
      .columns(['status', 'lease_expires_at'])
      .execute();

    await db.schema
      .createTable('leases')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('leases_holder_idx').on('leases').columns(['holder']).execute();

    if (postgres) {
      const bytewise: [string, string[]][] = [
        ['model_repos', ['created_at', 'id']],
        ['artifacts', ['path', 'created_at', 'id']],
        ['jobs', ['created_at', 'id', 'lease_expires_at']],
        ['leases', ['expires_at']],
      ];
      for (const [table, columns] of bytewise) {
        for (const column of columns) {
          await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type text collate "C"`.execute(
            db,
          );
        }
      }
    }
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('leases').execute();
    await db.schema.dropIndex('jobs_status_lease_idx').execute();
    await db.schema.alterTable('jobs').dropColumn('lease_expires_at').execute();
    await db.schema.alterTable('jobs').dropColumn('lease_owner').execute();
  },
};
