import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { BlobStore } from '../store/blob-store.js';

export interface ModelUsage {
  modelId: string;
  repoId: string;
  pinned: boolean;
  files: number;
  logicalBytes: number;
  uniqueBytes: number;
}

export interface StorageReport {
  blobCount: number;
  /** Bytes the blobs take: every distinct content once. */
  blobBytes: number;
  /** Bytes all completed artifacts add up to, counting shared content once per artifact. */
  logicalBytes: number;
  /** What content addressing saves: logical minus blob bytes. */
  dedupSavedBytes: number;
  disk: { freeBytes: number; totalBytes: number };
  /** STORE_MAX_BYTES, or null without a quota. */
  quotaBytes: number | null;
  models: ModelUsage[];
}

export class StorageService {
  constructor(
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly store: BlobStore,
    private readonly quotaBytes: number | undefined,
  ) {}

  async report(): Promise<StorageReport> {
    const [usage, perModel, models, disk] = await Promise.all([
      this.artifacts.storeUsage(),
      this.artifacts.usageByModel(),
      this.models.list(),
      this.store.diskSpace(),
    ]);
    const byId = new Map(perModel.map((u) => [u.modelId, u]));
    const logicalBytes = perModel.reduce((sum, u) => sum + u.logicalBytes, 0);
    return {
      blobCount: usage.blobs,
      blobBytes: usage.bytes,
      logicalBytes,
      dedupSavedBytes: Math.max(0, logicalBytes - usage.bytes),
      disk,
      quotaBytes: this.quotaBytes ?? null,
      models: models.map((m) => ({
        modelId: m.id,
        repoId: m.repoId,
        pinned: m.pinnedAt !== null,
        files: byId.get(m.id)?.files ?? 0,
        logicalBytes: byId.get(m.id)?.logicalBytes ?? 0,
        uniqueBytes: byId.get(m.id)?.uniqueBytes ?? 0,
      })),
    };
  }
}
