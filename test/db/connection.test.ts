import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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

/**
 * Both drivers build rows from arrays with camelCase keys themselves (no per-row copy by the plugin);
 * SQLite also keeps its compiled statements. Rows must come out as Kysely's CamelCasePlugin made them.
 */
describe(`rows read from ${BACKEND === 'distributed' ? 'PostgreSQL' : 'SQLite'}`, () => {
  let backend: Backend;
  let db: Db;
  let dir: string;

  beforeAll(async () => {
    backend = await createBackend();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-rows-'));
    db = openDatabase(
      BACKEND === 'distributed'
        ? { dialect: 'postgres', url: backend.env.DATABASE_URL ?? '', poolSize: 2 }
        : { dialect: 'sqlite', filename: path.join(dir, 'hub.sqlite') },
    );
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await backend?.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const model = {
    id: '00000000-0000-4000-8000-000000000001',
    vendor: 'Vendor',
    name: 'Name',
    repoId: 'owner/name',
    revision: 'main',
    commitSha: null,
    status: 'registered' as const,
    error: null,
    lastSyncedAt: null,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
  };

  it('have camelCase keys, in column order, with the stored values', async () => {
    await db.insertInto('modelRepos').values(model).execute();
    const rows = await db.selectFrom('modelRepos').selectAll().execute();
    expect(rows).toEqual([{ ...model, pinnedAt: null }]);
    expect(Object.keys(rows[0] ?? {}).slice(0, 4)).toEqual(['id', 'vendor', 'name', 'repoId']);
    const { rows: raw } = await sql<
      Record<string, unknown>
    >`select 1 as some_value, 'x' as other_one`.execute(db);
    expect(raw).toEqual([{ someValue: 1, otherOne: 'x' }]);
  });

  it('keep the last of two columns of one name, as the drivers do', async () => {
    const { rows } = await sql<Record<string, unknown>>`select 1 as the_n, 2 as the_n`.execute(db);
    expect(rows).toEqual([{ theN: 2 }]);
  });

  it('show a column added after a query ran (no statement keeps the old table)', async () => {
    const before = await db.selectFrom('modelRepos').selectAll().where('id', '=', model.id).execute();
    expect(before[0]).not.toHaveProperty('extraNote');
    await sql`alter table model_repos add column extra_note text`.execute(db);
    try {
      const after = await db.selectFrom('modelRepos').selectAll().where('id', '=', model.id).execute();
      expect(after[0]).toHaveProperty('extraNote', null);
    } finally {
      await sql`alter table model_repos drop column extra_note`.execute(db);
    }
    const again = await db.selectFrom('modelRepos').selectAll().where('id', '=', model.id).execute();
    expect(again[0]).not.toHaveProperty('extraNote');
  });

  it('answer more distinct queries than statements are kept, and the first again', async () => {
    for (let i = 0; i < 260; i++) {
      const { rows } = await sql<{ n: number }>`select ${sql.lit(i)} as n`.execute(db);
      expect(rows).toEqual([{ n: i }]);
    }
    const { rows } = await sql<{ n: number }>`select ${sql.lit(0)} as n`.execute(db);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it.runIf(BACKEND === 'embedded')('stream with the same keys', async () => {
    const streamed: unknown[] = [];
    for await (const row of db.selectFrom('modelRepos').select(['id', 'repoId']).stream()) streamed.push(row);
    expect(streamed).toEqual([{ id: model.id, repoId: model.repoId }]);
  });

  it.runIf(BACKEND === 'distributed')('map the keys inside JSON values, as the plugin did', async () => {
    const { rows } = await sql<
      Record<string, unknown>
    >`select json_build_object('some_key', 1) as the_value`.execute(db);
    expect(rows).toEqual([{ theValue: { someKey: 1 } }]);
  });
});
