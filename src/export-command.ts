import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { Kysely } from 'kysely';
import { formatBytes, terminalSafe } from './client/format.js';
import { type Config, ConfigError, describeDatabase } from './config.js';
import { ArtifactsRepository } from './db/artifacts.repo.js';
import { openDatabase } from './db/connection.js';
import { LeasesRepository } from './db/leases.repo.js';
import { ModelsRepository } from './db/models.repo.js';
import type { Database } from './db/schema.js';
import { type ExportRequest, ExportService, type ExportSummary } from './services/export.service.js';
import { BlobStore } from './store/blob-store.js';

/**
 * `model-hub export`: a server-side command like `migrate`. It runs on the hub's machine, opens
 * the hub's database and store directly (no HTTP, no worker), and writes the export.
 */
export async function runExport(config: Config, request: ExportRequest): Promise<ExportSummary> {
  assertHubPresent(config);
  const db = openDatabase(config.database);
  try {
    await assertHubTables(db, config);
    const service = new ExportService(
      new ModelsRepository(db),
      new ArtifactsRepository(db),
      new BlobStore(config.storePath),
      new LeasesRepository(db),
      `export:${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    );
    return await service.exportRepo(request);
  } finally {
    await db.destroy();
  }
}

const SAME_CONFIGURATION =
  "run export on the hub's machine with the same MODEL_STORE_PATH (and DATABASE_URL, if set) as `serve`; the default store is ./data/model-store under the directory the hub was started in";

/** Before anything is opened: the store, and an embedded database, must already exist (nothing is created). */
function assertHubPresent(config: Config): void {
  if (!fs.existsSync(config.storePath)) {
    throw new ConfigError(`No Model Hub store at ${config.storePath}: ${SAME_CONFIGURATION}`);
  }
  if (config.database.dialect === 'sqlite' && !fs.existsSync(config.database.filename)) {
    throw new ConfigError(`No Model Hub database at ${config.database.filename}: ${SAME_CONFIGURATION}`);
  }
}

async function assertHubTables(db: Kysely<Database>, config: Config): Promise<void> {
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === 'model_repos')) {
    throw new ConfigError(
      `The database ${describeDatabase(config.database)} has no Model Hub tables (a hub has never started on it): ${SAME_CONFIGURATION}`,
    );
  }
}

/** What the command prints: the summary, then how a runtime should be pointed at the export (terminal-safe). */
export function describeExport(summary: ExportSummary, dir: string): string[] {
  const placed =
    summary.layout === 'hf-cache'
      ? `blobs: ${summary.linked} hard-linked, ${summary.copied} copied, ${summary.present} already there`
      : `files: ${summary.linked} hard-linked, ${summary.copied} copied, ${summary.present} already there`;
  const lines = [
    `Exported ${summary.repoId} at ${summary.commit} to ${summary.root} (${summary.layout}): ${summary.files} files, ${formatBytes(summary.bytes)}; ${placed}`,
  ];
  if (summary.missing.length > 0) {
    lines.push(
      `Left out ${summary.missing.length} file(s) that are not downloaded: ${summary.missing.slice(0, 5).join(', ')}`,
    );
  }
  lines.push(
    summary.layout === 'hf-cache'
      ? `Use it with: HF_HUB_OFFLINE=1 HF_HUB_CACHE=${dir}`
      : `Load it from the folder: ${dir}`,
  );
  return lines.map(terminalSafe);
}
