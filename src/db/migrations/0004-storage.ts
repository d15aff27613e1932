import type { Kysely, Migration } from 'kysely';

/** Storage management: a pinned model's blobs are never evicted to meet the store quota. */
export const storage: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('model_repos').addColumn('pinned_at', 'text').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.alterTable('model_repos').dropColumn('pinned_at').execute();
  },
};
