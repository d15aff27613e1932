import type { Kysely, Migration } from 'kysely';

/**
 * Content already stored is found by the git blob sha1 upstream lists (`upstream_oid`) before a file
 * is fetched: without an index, each lookup scanned every artifact of every repo.
 */
export const artifactOidIndex: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createIndex('artifacts_upstream_oid_idx')
      .on('artifacts')
      .columns(['upstream_oid'])
      .execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('artifacts_upstream_oid_idx').execute();
  },
};
