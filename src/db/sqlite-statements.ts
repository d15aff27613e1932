import type SqliteDatabase from 'better-sqlite3';
import type { SqliteDatabase as KyselySqliteDatabase, SqliteStatement } from 'kysely';
import type { ChangeCounter } from './change-counter.js';
import { rowBuilder } from './row-builder.js';

/**
 * better-sqlite3 as Kysely's SQLite driver sees it, with two costs of every query taken out of the
 * request path (with the plugin's copy of each row, they made reading a page of `GET /v1/hub/jobs`
 * cost 2.5 times what it does now, a third of the endpoint's CPU time):
 * - Kysely prepares each query anew; here a compiled statement is kept per SQL text (the most
 *   recently used STATEMENT_CACHE_SIZE of them), as the same few queries run over and over.
 * - better-sqlite3 builds row objects in C++ one property at a time, which costs twice as much as
 *   reading the row as an array (`raw` mode) and building the object in JavaScript: one object
 *   literal per statement, so every row gets one shape, with its keys already as `columnName`
 *   makes them (the camelCase plugin then has nothing left to copy).
 * A statement's column names are read once; a schema change (a migration, by this process or
 * another) empties the cache, so `SELECT *` never keeps the columns of an older table. SQLite counts
 * schema changes in `schema_version`, read before each query (a couple of µs).
 *
 * With `changes`, every statement that changed rows moves that counter once it has run, and so do
 * other connections' commits (`PRAGMA data_version`, read when the counter is).
 */
export const STATEMENT_CACHE_SIZE = 200;

interface CachedStatement extends SqliteStatement {
  readonly sql: string;
}

export function withCachedStatements(
  sqlite: SqliteDatabase.Database,
  /** The key a result column gets in a row object (its name, by default). */
  columnName: (column: string) => string = (column) => column,
  changes?: ChangeCounter,
): KyselySqliteDatabase {
  const cache = new Map<string, CachedStatement>();
  const dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
  changes?.followExternal(() => dataVersion.get());
  const changed = () => changes?.changed();
  const schemaVersion = sqlite.prepare('PRAGMA schema_version').pluck();
  let seenSchema = schemaVersion.get();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare(sql: string): SqliteStatement {
      const schema = schemaVersion.get();
      if (schema !== seenSchema) {
        cache.clear();
        seenSchema = schema;
      }
      const cached = cache.get(sql);
      if (cached !== undefined) {
        // Map order is insertion order: re-inserting marks it most recently used.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = wrap(sqlite, sql, columnName, changed);
      cache.set(sql, statement);
      if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}

// Kysely hands parameters as one array, which better-sqlite3 binds in order (never spread: a long
// `IN (…)` list would overflow the call stack).
function wrap(
  sqlite: SqliteDatabase.Database,
  sql: string,
  columnName: (column: string) => string,
  changed: () => void,
): CachedStatement {
  const statement = sqlite.prepare(sql);
  const writes = !statement.readonly;
  const run = (parameters: ReadonlyArray<unknown>) => {
    const result = statement.run(parameters);
    if (writes && result.changes > 0) changed();
    return result;
  };
  if (!statement.reader) {
    return {
      sql,
      reader: false,
      all: (parameters) => statement.all(parameters),
      run,
      // Never called for a statement that returns no rows; kept for the interface.
      iterate: (parameters) => statement.iterate(parameters),
    };
  }
  const toObject = rowBuilder(statement.columns().map((column) => columnName(column.name)));
  const rows = statement.raw(true);
  return {
    sql,
    reader: true,
    all(parameters) {
      const values = rows.all(parameters) as unknown[][];
      // `insert … returning` and the like: the rows it answers are the rows it changed.
      if (writes && values.length > 0) changed();
      const result = new Array<Record<string, unknown>>(values.length);
      for (let i = 0; i < values.length; i++) result[i] = toObject(values[i] as unknown[]);
      return result;
    },
    run,
    // Streaming reads get a statement of their own: a cached one may be asked to run meanwhile.
    *iterate(parameters) {
      for (const values of sqlite.prepare(sql).raw(true).iterate(parameters)) {
        yield toObject(values as unknown[]);
      }
    },
  };
}
