import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from '../connection.js';

/**
 * API keys. Only a SHA-256 of each key is stored; `prefix` (the key's first characters, not secret)
 * finds the candidate rows and names the key in listings and logs.
 */
export const apiKeys: Migration = {
  async up(db: Kysely<unknown>) {
    const sortable = isPostgres(db) ? sql`text collate "C"` : sql`text`;
    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('prefix', sortable, (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('created_at', sortable, (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('api_keys_prefix_idx').on('api_keys').columns(['prefix']).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('api_keys').execute();
  },
};
