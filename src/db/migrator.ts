import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { initial } from './migrations/0001-initial.js';
import { leases } from './migrations/0002-leases.js';
import { events } from './migrations/0003-events.js';
import { storage } from './migrations/0004-storage.js';
import { apiKeys } from './migrations/0005-api-keys.js';
import { boundedJobLogs } from './migrations/0006-bounded-job-logs.js';
import { jobDedup } from './migrations/0007-job-dedup.js';
import { jobTakeover } from './migrations/0008-job-takeover.js';
import { jobControl } from './migrations/0009-job-control.js';
import { artifactOidIndex } from './migrations/0010-artifact-oid-index.js';
import { changeNotifications } from './migrations/0011-change-notifications.js';
import type { Database } from './schema.js';

/** The one migration list, for every dialect. Append; never edit a migration that has shipped. */
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-leases': leases,
  '0003-events': events,
  '0004-storage': storage,
  '0005-api-keys': apiKeys,
  '0006-bounded-job-logs': boundedJobLogs,
  '0007-job-dedup': jobDedup,
  '0008-job-takeover': jobTakeover,
  '0009-job-control': jobControl,
  '0010-artifact-oid-index': artifactOidIndex,
  '0011-change-notifications': changeNotifications,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error)
    throw new Error(`Database migration failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
