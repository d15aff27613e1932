import type { Kysely, Migration } from 'kysely';

/**
 * Storage management: a pinned model's blobs are never evicted to meet the store quota, and each
 * artifact remembers when its content was last used (downloaded, reused, imported, exported), which
 * orders eviction (least recently used first).
 */
export const storage: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('model_repos').addColumn('pinned_at', 'text').execute();
    await db.schema.alterTable('artifacts').addColumn('last_used_at', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('artifacts').dropColumn('last_used_at').execute();
    await db.schema.alterTable('model_repos').dropColumn('pinned_at').execute();
  },
};
