import type { Logger } from 'pino';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow } from '../db/schema.js';
import { type BlobStore, metadataFolder } from '../store/blob-store.js';

export interface MetadataLayoutDeps {
  models: ModelsRepository;
  artifacts: ArtifactsRepository;
  store: BlobStore;
  /** Non-weight files up to this size have a copy under metadata/ (see downloadArtifact). */
  metadataMaxBytes: number;
}

export interface MetadataLayoutResult {
  /** `<Vendor>_<Name>` folders found (and removed). */
  legacyFolders: string[];
  /** Metadata files placed in their `models--owner--name` folder. */
  placed: number;
}

/** Whether a stored artifact has a copy under metadata/: a non-weight file, small, still upstream. */
export function hasMetadataCopy(artifact: ArtifactRow, metadataMaxBytes: number): boolean {
  return artifact.removedAt === null && artifact.fileType !== 'model' && artifact.size <= metadataMaxBytes;
}

/**
 * Moves a store from the `metadata/<Vendor>_<Name>/` layout to `metadata/models--owner--name/`.
 * Files are placed again from their blobs rather than moved: two repos could share an old folder,
 * so its bytes may be another repo's. Then the old folders go (they hold only links and copies).
 * Idempotent, and a no-op once no old folder is left; an interrupted run finishes at the next start.
 */
export async function migrateMetadataLayout(deps: MetadataLayoutDeps): Promise<MetadataLayoutResult> {
  const legacyFolders = await deps.store.listLegacyMetadataFolders();
  const result: MetadataLayoutResult = { legacyFolders, placed: 0 };
  if (legacyFolders.length === 0) return result;
  const models = new Map((await deps.models.list()).map((m) => [m.id, m]));
  for (const artifact of await deps.artifacts.listCompleted()) {
    const model = models.get(artifact.modelId);
    if (!model || artifact.sha256 === null || !hasMetadataCopy(artifact, deps.metadataMaxBytes)) continue;
    const folder = metadataFolder(model.repoId);
    if ((await deps.store.metadataState(folder, artifact.path, artifact.sha256)) === 'ok') continue;
    // A blob that is gone is left to scan, which sends its artifact back to pending.
    if (!(await deps.store.hasBlob(artifact.sha256))) continue;
    await deps.store.materializeMetadata(folder, artifact.path, artifact.sha256);
    result.placed++;
  }
  for (const folder of legacyFolders) await deps.store.removeMetadataFolder(folder);
  return result;
}

/** At a worker's start: runs the migration, saying what it did; a failure is logged, never fatal. */
export async function upgradeMetadataLayout(deps: MetadataLayoutDeps, logger: Logger): Promise<void> {
  try {
    const { legacyFolders, placed } = await migrateMetadataLayout(deps);
    if (legacyFolders.length === 0) return;
    logger.info(
      { legacyFolders: legacyFolders.length, placed },
      'metadata files moved to one folder per repo (metadata/models--<owner>--<name>/)',
    );
  } catch (error) {
    logger.warn(
      { err: error },
      'could not move metadata files to one folder per repo; a scan places them, and the next start tries again',
    );
  }
}
