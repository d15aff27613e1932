import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/db/connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { BACKEND, type Backend, createBackend, POSTGRES_ADMIN_URL } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';

/**
 * A PostgreSQL connection the server terminates while it is checked out (inside a transaction) must
 * fail that transaction, not the process: the pool listens only to idle connections.
 */
describe.runIf(BACKEND === 'distributed')('a PostgreSQL connection terminated mid-transaction', () => {
  let backend: Backend;
  let db: Db;
  const dropped: Error[] = [];

  beforeAll(async () => {
    backend = await createBackend();
    db = openDatabase({ dialect: 'postgres', url: backend.env.DATABASE_URL ?? '', poolSize: 2 }, (error) =>
      dropped.push(error),
    );
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await backend?.drop();
  });

  it('is reported to the connection-error callback and fails only its transaction', async () => {
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      const outcome = db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
        // Between statements: the termination reaches the checked-out client as an 'error' event.
        await waitFor('the dropped connection', async () => (dropped.length > 0 ? true : undefined), 10_000);
        await trx.selectFrom('jobs').select('id').execute();
      });
      await expect(outcome).rejects.toThrow();
      expect(dropped[0]?.message).toMatch(/terminat/i);
      // The pool opens a new connection for the next query.
      expect(await db.selectFrom('jobs').select('id').execute()).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
