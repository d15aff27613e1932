import { nowIso } from '../clock.js';
import { type ArtifactsRepository, contentLeaseKey } from '../db/artifacts.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import type { JobProgress } from '../events/job-progress.js';
import { type BlobStore, metadataFolder } from '../store/blob-store.js';
import { CappedLog, sha256Blobs } from './capped-log.js';
import type { ScanPayload, ScanResult } from './job-payloads.js';
import { hasMetadataCopy } from './metadata-layout.js';

export interface ScanDeps {
  artifacts: ArtifactsRepository;
  models: ModelsRepository;
  leaseRows: LeasesRepository;
  store: BlobStore;
  /** Non-weight files up to this size have a copy under metadata/ (see downloadArtifact). */
  metadataMaxBytes: number;
  /** Temp files untouched for longer than this, with no live download, are removed (ms). */
  scanTempMaxAgeMs: number;
  progress: JobProgress;
  log: (message: string) => Promise<void>;
  /** Aborts when the job is cancelled or its lease lost: a deep scan stops before its next blob. */
  signal?: AbortSignal;
}

/**
 * scan_store: reconciles the database with the disk. Completed artifacts whose blob is missing (or,
 * with `deep`, whose blob no longer hashes to its name: quarantined) go back to pending; metadata
 * copies out of step with their blob are re-materialized; stale temp files are removed; orphan blobs
 * are only reported (GC deletes them).
 */
export async function scanStore(deps: ScanDeps, payload: ScanPayload): Promise<ScanResult> {
  const result: ScanResult = {
    artifacts_checked: 0,
    missing_blobs: 0,
    reset_to_pending: 0,
    orphan_blobs: 0,
    orphan_bytes: 0,
    unexpected_files: 0,
    stale_temp_removed: 0,
    stale_temp_bytes: 0,
    stale_temp_kept_live: 0,
    metadata_repaired: 0,
    metadata_removed: 0,
    blobs_hashed: 0,
    bytes_hashed: 0,
    corrupt_quarantined: 0,
    deep_hash_mb_per_second: null,
  };
  const logger = new CappedLog(deps.log);
  const completed = await deps.artifacts.listCompleted(payload.model_id);
  const models = new Map((await deps.models.list()).map((m) => [m.id, m]));
  result.artifacts_checked = completed.length;

  // A deep scan reports progress in bytes hashed; a plain one in blobs checked.
  const present = await checkBlobsPresent(deps, completed, models, result, logger, !payload.deep);
  await repairMetadata(deps, present, models, result, logger);
  if (payload.deep) await rehashBlobs(deps, present, models, result, logger);
  if (payload.model_id === undefined) {
    await reportOrphans(deps, result, logger);
    await removeStaleTemp(deps, result, logger);
  }

  await deps.log(
    `Scan${payload.deep ? ' (deep)' : ''}${payload.repo_id ? ` of ${payload.repo_id}` : ''}: ` +
      `${result.artifacts_checked} artifacts checked, ${result.missing_blobs} missing blob(s), ` +
      `${result.reset_to_pending} artifact(s) reset to pending, ${result.metadata_repaired} metadata file(s) repaired` +
      (payload.deep
        ? `, ${result.blobs_hashed} blob(s) hashed (${result.bytes_hashed} bytes, ${result.deep_hash_mb_per_second ?? 0} MB/s), ${result.corrupt_quarantined} quarantined`
        : '') +
      (payload.model_id === undefined
        ? `, ${result.orphan_blobs} orphan blob(s) (${result.orphan_bytes} bytes), ${result.stale_temp_removed} stale temp file(s) removed (${result.stale_temp_bytes} bytes)`
        : ''),
  );
  return result;
}

/** Completed artifacts whose blob is missing go back to pending; returns the others, grouped by blob. */
async function checkBlobsPresent(
  deps: ScanDeps,
  completed: ArtifactRow[],
  models: Map<string, ModelRepoRow>,
  result: ScanResult,
  logger: CappedLog,
  reportProgress: boolean,
): Promise<Map<string, { sizeBytes: number; artifacts: ArtifactRow[] }>> {
  const byBlob = new Map<string, ArtifactRow[]>();
  for (const artifact of completed) {
    if (artifact.sha256 === null) continue;
    byBlob.set(artifact.sha256, [...(byBlob.get(artifact.sha256) ?? []), artifact]);
  }
  if (reportProgress) deps.progress.plan(byBlob.size, 0);
  const present = new Map<string, { sizeBytes: number; artifacts: ArtifactRow[] }>();
  for (const [sha256, artifacts] of byBlob) {
    const stat = await deps.store.statBlob(sha256);
    if (reportProgress) deps.progress.fileFinished(sha256, { ok: stat !== undefined, size: 0 });
    if (stat) {
      present.set(sha256, { sizeBytes: stat.sizeBytes, artifacts });
      continue;
    }
    result.missing_blobs++;
    await resetArtifacts(deps, artifacts, models, result, logger, `blob ${sha256} is missing`);
  }
  return present;
}

/** Metadata files are hard links (or copies) of their blob; a missing or changed one is placed again. */
async function repairMetadata(
  deps: ScanDeps,
  present: Map<string, { artifacts: ArtifactRow[] }>,
  models: Map<string, ModelRepoRow>,
  result: ScanResult,
  logger: CappedLog,
): Promise<void> {
  for (const [sha256, { artifacts }] of present) {
    for (const artifact of artifacts) {
      const model = models.get(artifact.modelId);
      if (!model || !hasMetadataCopy(artifact, deps.metadataMaxBytes)) continue;
      const folder = metadataFolder(model.repoId);
      const state = await deps.store.metadataState(folder, artifact.path, sha256);
      if (state === 'ok') continue;
      await deps.store.materializeMetadata(folder, artifact.path, sha256);
      result.metadata_repaired++;
      await logger.line(
        'metadata',
        `Repaired metadata file metadata/${folder}/${artifact.path} (${state === 'missing' ? 'was missing' : 'differed from its blob'})`,
      );
    }
  }
}

/** Deep: every blob the checked artifacts point at is hashed again; a mismatch is quarantined. */
async function rehashBlobs(
  deps: ScanDeps,
  present: Map<string, { sizeBytes: number; artifacts: ArtifactRow[] }>,
  models: Map<string, ModelRepoRow>,
  result: ScanResult,
  logger: CappedLog,
): Promise<void> {
  deps.progress.plan(
    present.size,
    [...present.values()].reduce((sum, b) => sum + b.sizeBytes, 0),
  );
  const started = performance.now();
  for (const [sha256, { sizeBytes, artifacts }] of present) {
    deps.signal?.throwIfAborted();
    // Progress lists work by artifact id; the blob's first artifact stands for it.
    const progressId = artifacts[0]?.id ?? sha256;
    deps.progress.fileStarted(progressId, `blobs/sha256/${sha256}`, sizeBytes);
    let hashed = 0;
    let actual: string | undefined;
    try {
      actual = await deps.store.hashBlob(sha256, (bytes) => {
        hashed += bytes;
        deps.progress.fileProgress(progressId, hashed, bytes);
      });
    } catch (error) {
      if (!(error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT')) throw error;
    }
    result.blobs_hashed++;
    result.bytes_hashed += hashed;
    if (actual === undefined) {
      result.missing_blobs++;
      await resetArtifacts(
        deps,
        artifacts,
        models,
        result,
        logger,
        `blob ${sha256} vanished during the scan`,
      );
    } else if (actual !== sha256) {
      await quarantine(deps, sha256, actual, result);
      // Every artifact on this blob is affected, not only those in the scanned repo.
      const affected = await deps.artifacts.resetToPendingBySha256(sha256, nowIso());
      result.reset_to_pending += affected.length;
      for (const artifact of affected) {
        await logger.line('reset', `Reset ${describe(artifact, models)} to pending: its blob was corrupt`);
      }
    }
    deps.progress.fileFinished(progressId, { ok: actual === sha256, size: sizeBytes });
  }
  const seconds = (performance.now() - started) / 1000;
  result.deep_hash_mb_per_second =
    seconds > 0 ? Math.round((result.bytes_hashed / 1e6 / seconds) * 10) / 10 : null;
}

/**
 * Metadata files hard-linked to a corrupt blob share its bytes: they go with it (the re-download
 * places them again), so nothing keeps serving the corrupt content.
 */
async function quarantine(deps: ScanDeps, sha256: string, actual: string, result: ScanResult): Promise<void> {
  const identity = await deps.store.statBlob(sha256);
  const links = identity ? ((await deps.store.findMetadataLinks([identity])).get(identity) ?? []) : [];
  const quarantined = await deps.store.quarantineBlob(sha256);
  result.corrupt_quarantined++;
  await deps.log(`Corrupt blob ${sha256} (its bytes hash to ${actual}) moved to ${quarantined}`);
  for (const link of links) {
    if (identity && (await deps.store.removeMetadataLink(link, identity))) {
      result.metadata_removed++;
      await deps.log(`Removed ${link}: a link to the corrupt blob`);
    }
  }
}

async function reportOrphans(deps: ScanDeps, result: ScanResult, logger: CappedLog): Promise<void> {
  const referenced = await deps.artifacts.referencedSha256();
  for await (const entry of sha256Blobs(deps.store, result, logger)) {
    if (referenced.has(entry.sha256)) continue;
    result.orphan_blobs++;
    result.orphan_bytes += entry.sizeBytes;
    await logger.line('orphan', `Orphan blob ${entry.sha256} (${entry.sizeBytes} bytes)`);
  }
}

/**
 * temp/<artifact id>.part[.json][.<x>.tmp]: an old file is removed unless its artifact is downloading
 * or its content lease is held (a live transfer that resumes from it).
 */
async function removeStaleTemp(deps: ScanDeps, result: ScanResult, logger: CappedLog): Promise<void> {
  const now = Date.now();
  for await (const file of deps.store.listTemp()) {
    if (now - file.mtimeMs <= deps.scanTempMaxAgeMs) continue;
    const key = file.name.split('.')[0] ?? '';
    const artifact = key === '' ? undefined : await deps.artifacts.findById(key);
    if (artifact && (await hasLiveDownload(deps, artifact))) {
      result.stale_temp_kept_live++;
      continue;
    }
    await deps.store.removeTemp(file.name);
    result.stale_temp_removed++;
    result.stale_temp_bytes += file.sizeBytes;
    await logger.line('temp', `Removed stale temp file temp/${file.name} (${file.sizeBytes} bytes)`);
  }
}

async function hasLiveDownload(deps: ScanDeps, artifact: ArtifactRow): Promise<boolean> {
  return (
    artifact.downloadStatus === 'downloading' ||
    (await deps.leaseRows.isHeld(contentLeaseKey(artifact), nowIso()))
  );
}

async function resetArtifacts(
  deps: ScanDeps,
  artifacts: ArtifactRow[],
  models: Map<string, ModelRepoRow>,
  result: ScanResult,
  logger: CappedLog,
  reason: string,
): Promise<void> {
  await deps.artifacts.resetToPending(
    artifacts.map((a) => a.id),
    nowIso(),
  );
  result.reset_to_pending += artifacts.length;
  for (const artifact of artifacts) {
    await logger.line('reset', `Reset ${describe(artifact, models)} to pending: ${reason}`);
  }
}

function describe(artifact: ArtifactRow, models: Map<string, ModelRepoRow>): string {
  return `${models.get(artifact.modelId)?.repoId ?? artifact.modelId}:${artifact.path}`;
}
