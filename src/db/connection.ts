import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import {
  CamelCasePlugin,
  Kysely,
  type PluginTransformResultArgs,
  PostgresAdapter,
  PostgresDialect,
  type QueryResult,
  SqliteDialect,
  type UnknownRow,
} from 'kysely';
import type pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import type { ChangeCounter } from './change-counter.js';
import { withObjectRowsBuiltOnce } from './pg-rows.js';
import type { Database } from './schema.js';
import { withCachedStatements } from './sqlite-statements.js';

// Each deployment loads only its own driver (both are CommonJS): the other one would only cost memory.
const requireDriver = createRequire(import.meta.url);

export type Db = Kysely<Database>;

const INT8_OID = 20;

/**
 * Opens the configured database behind the one Kysely query layer. SQLite runs in WAL mode so
 * readers never wait on the writer; PostgreSQL gets a pool and 64-bit integers as numbers (sizes
 * stay far below 2^53), so both dialects return the same row shapes. With `changes`, this process's
 * writes move that counter (change-counter.ts).
 */
export function openDatabase(
  config: DatabaseConfig,
  onConnectionError: (error: Error) => void = () => {},
  changes?: ChangeCounter,
): Db {
  if (config.dialect === 'postgres') {
    const { Pool, types } = requireDriver('pg') as typeof pg;
    const pool = new Pool({
      connectionString: config.url,
      max: config.poolSize,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? Number : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
      },
    });
    // An idle connection the server drops (restart, failover) must not take the process down; the
    // pool opens a new one for the next query.
    pool.on('error', onConnectionError);
    // The pool listens only to idle connections; one checked out (mid-transaction) that the server
    // terminates emits 'error' with no listener, which would end the process. Its query still fails
    // and the pool replaces it.
    pool.on('connect', (client) => client.on('error', onConnectionError));
    const camelCase = new RowsBuiltCamelCasePlugin();
    return new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: withObjectRowsBuiltOnce(
          pool,
          (column) => camelCase.columnName(column),
          (row) => camelCase.mapJsonRow(row),
          changes,
        ),
      }),
      plugins: [camelCase],
    });
  }
  fs.mkdirSync(path.dirname(config.filename), { recursive: true });
  const Sqlite = requireDriver('better-sqlite3') as typeof SqliteDatabase;
  const sqlite = new Sqlite(config.filename);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const camelCase = new RowsBuiltCamelCasePlugin();
  return new Kysely<Database>({
    dialect: new SqliteDialect({
      database: withCachedStatements(sqlite, (column) => camelCase.columnName(column), changes),
    }),
    plugins: [camelCase],
  });
}

/**
 * Kysely's CamelCasePlugin for queries, whose rows the drivers build with camelCase keys already
 * (`withCachedStatements`, `withObjectRowsBuiltOnce`): the plugin's own mapping copied every row into
 * a new object, key by key, a tenth of the CPU time of a list endpoint.
 */
class RowsBuiltCamelCasePlugin extends CamelCasePlugin {
  /** The key a result column gets. */
  columnName(column: string): string {
    return this.camelCase(column);
  }

  /** The plugin's own mapping, nested objects included: for rows holding JSON values. */
  mapJsonRow(row: UnknownRow): UnknownRow {
    return this.mapRow(row);
  }

  override async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

export function isPostgres(db: { getExecutor(): { readonly adapter: unknown } }): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
