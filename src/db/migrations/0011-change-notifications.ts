import { type Kysely, type Migration, sql } from 'kysely';
import { isPostgres } from '../connection.js';
import { CHANGES_CHANNEL } from '../pg-change-listener.js';

/** The tables the cached list answers read from (http/response-cache.ts). */
const WATCHED_TABLES = ['jobs', 'model_repos', 'artifacts'] as const;

/**
 * PostgreSQL tells every listening process when a statement changed a table that cached answers
 * read, once per transaction (identical notifications are folded), after it commits. SQLite needs
 * nothing: `PRAGMA data_version` shows other connections' commits.
 */
export const changeNotifications: Migration = {
  async up(db: Kysely<unknown>) {
    if (!isPostgres(db)) return;
    await sql`
      create function model_hub_notify_change() returns trigger language plpgsql as $$
      begin
        perform pg_notify(${sql.lit(CHANGES_CHANNEL)}, '');
        return null;
      end
      $$`.execute(db);
    for (const table of WATCHED_TABLES) {
      await sql`
        create trigger ${sql.id(`${table}_notify_change`)}
        after insert or update or delete or truncate on ${sql.table(table)}
        for each statement execute function model_hub_notify_change()`.execute(db);
    }
  },
  async down(db: Kysely<unknown>) {
    if (!isPostgres(db)) return;
    for (const table of WATCHED_TABLES) {
      await sql`drop trigger ${sql.id(`${table}_notify_change`)} on ${sql.table(table)}`.execute(db);
    }
    await sql`drop function model_hub_notify_change()`.execute(db);
  },
};
