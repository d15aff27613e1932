import { nowIso } from '../clock.js';
import { type ArtifactsRepository, blobLeaseKey } from '../db/artifacts.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { BlobStore, StoredFile } from '../store/blob-store.js';
import { deleteBlobUnderLease } from './blob-deletion.js';
import { CappedLog, sha256Blobs } from './capped-log.js';
import type { GcPayload, GcResult } from './job-payloads.js';

export interface GcDeps {
  artifacts: ArtifactsRepository;
  leaseRows: LeasesRepository;
  store: BlobStore;
  /** Orphans modified more recently than this are kept unless the payload says otherwise (ms). */
  gcGraceMs: number;
  jobId: string;
  log: (message: string) => Promise<void>;
}

const LISTED_SHA256 = 100;

type Candidate = { sha256: string } & StoredFile;

/**
 * collect_garbage: deletes orphan blobs (no non-removed artifact holds or advertises them, see
 * ArtifactsRepository.referencedSha256) older than the grace period, with the metadata files linked
 * to them. Each deletion happens under the blob's content lease after a fresh reference check, so a
 * download that starts meanwhile either keeps the blob or waits and fetches it again. A dry run
 * reports the same list and deletes nothing.
 */
export async function collectGarbage(deps: GcDeps, payload: GcPayload): Promise<GcResult> {
  const graceMs = payload.grace_ms ?? deps.gcGraceMs;
  const only = payload.only_sha256 ? new Set(payload.only_sha256) : undefined;
  const logger = new CappedLog(deps.log);
  const result: GcResult = {
    dry_run: payload.dry_run,
    grace_ms: graceMs,
    orphan_blobs: 0,
    collectable_blobs: 0,
    collectable_bytes: 0,
    collectable_sha256: [],
    deleted_blobs: 0,
    freed_bytes: 0,
    metadata_links_removed: 0,
    kept_recent: 0,
    kept_referenced: 0,
    unexpected_files: 0,
  };

  const referenced = await deps.artifacts.referencedSha256();
  const candidates: Candidate[] = [];
  const now = Date.now();
  for await (const entry of sha256Blobs(deps.store, result, logger)) {
    if (only && !only.has(entry.sha256)) continue;
    if (referenced.has(entry.sha256)) {
      result.kept_referenced++;
      continue;
    }
    result.orphan_blobs++;
    if (now - entry.mtimeMs < graceMs) {
      result.kept_recent++;
      continue;
    }
    candidates.push(entry);
  }

  // Links are found before any blob goes: an inode freed by a deletion could be reused by a new file.
  const links = await deps.store.findMetadataLinks(candidates);
  for (const blob of candidates) {
    const blobLinks = links.get(blob) ?? [];
    if (payload.dry_run) {
      if (await deps.leaseRows.isHeld(blobLeaseKey(blob.sha256), nowIso())) {
        result.kept_referenced++;
        continue;
      }
      countCollectable(result, blob);
      result.metadata_links_removed += blobLinks.length;
      await logger.line('collect', `Would delete orphan blob ${blob.sha256} (${blob.sizeBytes} bytes)`);
      continue;
    }
    const deleted = await deleteBlobUnderLease(
      deps,
      blob.sha256,
      `gc:${deps.jobId}`,
      async () => !(await deps.artifacts.isSha256Referenced(blob.sha256)),
    );
    if (!deleted) {
      result.kept_referenced++;
      continue;
    }
    countCollectable(result, blob);
    result.deleted_blobs++;
    result.freed_bytes += blob.sizeBytes;
    for (const link of blobLinks) {
      if (await deps.store.removeMetadataLink(link, blob)) result.metadata_links_removed++;
    }
    await logger.line('collect', `Deleted orphan blob ${blob.sha256} (${blob.sizeBytes} bytes)`);
  }

  await deps.log(
    `${payload.dry_run ? 'GC dry run' : 'GC'}: ${result.orphan_blobs} orphan blob(s), ` +
      `${result.collectable_blobs} ${payload.dry_run ? 'would be deleted' : 'deleted'} (${result.collectable_bytes} bytes), ` +
      `${result.kept_recent} kept as younger than ${graceMs} ms, ${result.kept_referenced} referenced blob(s) kept`,
  );
  return result;
}

function countCollectable(result: GcResult, blob: Candidate): void {
  result.collectable_blobs++;
  result.collectable_bytes += blob.sizeBytes;
  if (result.collectable_sha256.length < LISTED_SHA256) result.collectable_sha256.push(blob.sha256);
}
