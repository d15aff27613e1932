import { sql } from 'kysely';
import type { Db } from './connection.js';

/** One round trip to the database, for readiness: fails when it is closed or unreachable. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
