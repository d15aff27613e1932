import { nowIso } from '../clock.js';
import { type ArtifactsRepository, blobLeaseKey } from '../db/artifacts.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { BlobStore } from '../store/blob-store.js';

export interface BlobDeletionDeps {
  artifacts: ArtifactsRepository;
  leaseRows: LeasesRepository;
  store: BlobStore;
}

/** Held only while one blob is re-checked and deleted. */
const DELETE_LEASE_MS = 60_000;

/**
 * Deletes a blob under its content lease, the one a download of that content takes, so no transfer
 * writes or commits it meanwhile; `stillDeletable` re-checks under the lease. Artifacts that pointed
 * at it go back to pending, so no row claims content the store no longer has. False when the lease
 * is held elsewhere or the re-check said no.
 */
export async function deleteBlobUnderLease(
  deps: BlobDeletionDeps,
  sha256: string,
  holder: string,
  stillDeletable: () => Promise<boolean>,
): Promise<boolean> {
  const key = blobLeaseKey(sha256);
  const until = new Date(Date.now() + DELETE_LEASE_MS).toISOString();
  if (!(await deps.leaseRows.acquire(key, holder, nowIso(), until))) return false;
  try {
    if (!(await stillDeletable())) return false;
    await deps.store.deleteBlob(sha256);
    await deps.artifacts.resetToPendingBySha256(sha256, nowIso());
    return true;
  } finally {
    await deps.leaseRows.release(key, holder);
  }
}
