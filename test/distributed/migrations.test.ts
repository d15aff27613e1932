import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { type Backend, createBackend } from '../support/backend.js';

let backend: Backend;
beforeAll(async () => {
  backend = await createBackend();
});
afterAll(async () => {
  await backend?.drop();
});

describe('migrations on PostgreSQL', () => {
  it('run once when several processes start together', async () => {
    const config = loadConfig(backend.env);
    const dbs = Array.from({ length: 4 }, () => openDatabase(config.database));
    try {
      const applied = await Promise.all(dbs.map((db) => migrateToLatest(db)));
      // Exactly one of the racing starters applied each migration; the others found them done.
      const expected = [
        '0001-initial',
        '0002-leases',
        '0003-events',
        '0004-storage',
        '0005-api-keys',
        '0006-bounded-job-logs',
        '0007-job-dedup',
        '0008-job-takeover',
        '0009-job-control',
        '0010-artifact-oid-index',
        '0011-change-notifications',
      ];
      expect(applied.flat().sort()).toEqual(expected);
      const rows = await (dbs[0] as (typeof dbs)[number])
        .selectFrom('kysely_migration' as any)
        .select('name' as any)
        .execute();
      expect(rows).toHaveLength(expected.length);
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });
});
