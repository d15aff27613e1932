import { errorMessage } from '../errors.js';
import { type BlobDeletionDeps, deleteBlobUnderLease } from './blob-deletion.js';

export interface QuotaDeps extends BlobDeletionDeps {
  /** STORE_MAX_BYTES. */
  storeMaxBytes: number;
  /** Lease holder name for the evictions of this job. */
  holder: string;
  log: (message: string) => Promise<void>;
}

export interface QuotaOutcome {
  storeBytes: number;
  evictedBlobs: number;
  evictedBytes: number;
}

const CANDIDATES_PER_ROUND = 100;

/**
 * Brings the store back under STORE_MAX_BYTES by evicting the least recently used weight blobs of
 * unpinned models. An evicted blob's artifacts go back to `pending`: the next download fetches it
 * again. A blob whose content lease someone holds (a transfer writing it, a GC deleting it) is
 * skipped. Stops when under the quota or when nothing evictable is left.
 */
export async function enforceQuota(deps: QuotaDeps): Promise<QuotaOutcome> {
  let storeBytes = (await deps.artifacts.storeUsage()).bytes;
  const outcome = { storeBytes, evictedBlobs: 0, evictedBytes: 0 };
  if (storeBytes <= deps.storeMaxBytes) return outcome;
  const tried = new Set<string>();
  while (storeBytes > deps.storeMaxBytes) {
    const candidates = (await deps.artifacts.evictionCandidates(CANDIDATES_PER_ROUND + tried.size)).filter(
      (c) => !tried.has(c.sha256),
    );
    if (candidates.length === 0) break;
    for (const candidate of candidates) {
      if (storeBytes <= deps.storeMaxBytes) break;
      tried.add(candidate.sha256);
      try {
        if (await deleteBlobUnderLease(deps, candidate.sha256, deps.holder, async () => true)) {
          storeBytes -= candidate.size;
          outcome.evictedBlobs++;
          outcome.evictedBytes += candidate.size;
        }
      } catch (error) {
        await deps.log(`Could not evict blob ${candidate.sha256}: ${errorMessage(error)}`);
      }
    }
  }
  outcome.storeBytes = storeBytes;
  const still =
    storeBytes > deps.storeMaxBytes
      ? '; still over: every other blob is pinned, in use, or not a weight file'
      : '';
  await deps.log(
    `Store over its quota of ${deps.storeMaxBytes} bytes: evicted ${outcome.evictedBlobs} blob(s) (${outcome.evictedBytes} bytes), least recently used first; ${storeBytes} bytes now${still}`,
  );
  return outcome;
}
