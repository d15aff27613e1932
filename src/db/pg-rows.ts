import type {
  PostgresCursor,
  PostgresPool,
  PostgresPoolClient,
  PostgresQueryResult,
  UnknownRow,
} from 'kysely';
import type pg from 'pg';
import type { ChangeCounter } from './change-counter.js';
import { rowBuilder } from './row-builder.js';

/**
 * The pg pool as Kysely's PostgreSQL driver sees it, with rows read as arrays and each made into an
 * object once, with the keys `columnName` gives (camelCase): pg builds an object per row, one
 * property at a time, and the camelCase plugin then copied it into another (both copies together
 * were about a tenth of the CPU time of a list endpoint). A result holding json/jsonb columns (none
 * of ours: JSON is stored as text, see json.ts) is built with the column names and handed to
 * `mapJsonRow`, which maps nested keys as the plugin would. Kysely streams only with a cursor class
 * configured, which the hub does not configure; a cursor would be passed through with its rows as pg
 * builds them.
 *
 * With `changes`, each statement that changed rows moves that counter once it has completed, and
 * so does the end of each transaction that did.
 */
export function withObjectRowsBuiltOnce(
  pool: pg.Pool,
  columnName: (column: string) => string,
  mapJsonRow: (row: UnknownRow) => UnknownRow,
  changes?: ChangeCounter,
): PostgresPool {
  const builders = new Map<string, (values: unknown[]) => UnknownRow>();
  const builderFor = (fields: readonly pg.FieldDef[]) => {
    const names = fields.map((field) => field.name);
    const json = fields.some((field) => JSON_TYPES.has(field.dataTypeID));
    const key = `${json ? 'json' : 'plain'}\u0000${names.join('\u0000')}`;
    let builder = builders.get(key);
    if (builder === undefined) {
      if (json) {
        const plain = rowBuilder(names);
        builder = (values) => mapJsonRow(plain(values));
      } else {
        builder = rowBuilder(names.map(columnName));
      }
      // A few dozen queries make up the whole of the hub's; the bound is for ad-hoc ones.
      if (builders.size >= BUILDER_CACHE_SIZE) builders.clear();
      builders.set(key, builder);
    }
    return builder;
  };
  const toObjects = (result: pg.QueryArrayResult): PostgresQueryResult<UnknownRow> => {
    const rows = result.rows;
    const objects = new Array<UnknownRow>(rows.length);
    if (rows.length > 0) {
      const build = builderFor(result.fields);
      for (let i = 0; i < rows.length; i++) objects[i] = build(rows[i] as unknown[]);
    }
    return {
      command: result.command as PostgresQueryResult<UnknownRow>['command'],
      rowCount: result.rowCount ?? 0,
      rows: objects,
    };
  };

  // Kysely keeps one connection object per pool client (a WeakMap keyed by it): the same client
  // must come back as the same wrapper.
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let wroteInTransaction = false;
    const noteChanges = (sql: string, results: readonly pg.QueryArrayResult[]) => {
      for (const { command, rowCount } of results) {
        // A `with` query's own command may be a select over rows its parts inserted.
        const wrote = WRITE_COMMANDS.has(command) ? (rowCount ?? 0) > 0 : WITH_QUERY.test(sql);
        if (wrote || command === 'TRUNCATE') {
          wroteInTransaction = true;
          changes?.changed();
        } else if (command === 'BEGIN') {
          wroteInTransaction = false;
        } else if ((command === 'COMMIT' || command === 'ROLLBACK') && wroteInTransaction) {
          wroteInTransaction = false;
          changes?.changed();
        }
      }
    };
    async function query(
      sql: string,
      parameters: ReadonlyArray<unknown>,
    ): Promise<PostgresQueryResult<UnknownRow>> {
      const result = (await client.query({
        text: sql,
        values: parameters as unknown[],
        rowMode: 'array',
      })) as pg.QueryArrayResult | pg.QueryArrayResult[];
      if (changes) noteChanges(sql, Array.isArray(result) ? result : [result]);
      // Several statements in one query answer one result each; Kysely reads it as one.
      return Array.isArray(result)
        ? (result.map(toObjects) as unknown as PostgresQueryResult<UnknownRow>)
        : toObjects(result);
    }
    return {
      query: ((sqlOrCursor: string | PostgresCursor<unknown>, parameters?: ReadonlyArray<unknown>) =>
        typeof sqlOrCursor === 'string'
          ? query(sqlOrCursor, parameters ?? [])
          : client.query(sqlOrCursor as unknown as pg.Submittable)) as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
  };

  return {
    async connect() {
      const client = await pool.connect();
      let connection = wrapped.get(client);
      if (connection === undefined) {
        connection = wrap(client);
        wrapped.set(client, connection);
      }
      return connection;
    },
    end: () => pool.end(),
  };
}

const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const WITH_QUERY = /^\s*with\b/i;

/** json, jsonb and their arrays: pg decodes them into objects, whose keys the plugin maps. */
const JSON_TYPES = new Set([114, 3802, 199, 3807]);
const BUILDER_CACHE_SIZE = 500;
