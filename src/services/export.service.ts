import path from 'node:path';
import { nowIso } from '../clock.js';
import { type ArtifactsRepository, blobLeaseKey } from '../db/artifacts.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { type Placement, placeFile, placeSymlink, placeText } from '../store/export-placement.js';
import { cacheEtag, repoFolderName, snapshotLinkTarget } from '../store/hf-cache-layout.js';
import { safeJoin } from '../store/safe-path.js';
import { assertRevision } from './revision.js';

export type ExportLayout = 'hf-cache' | 'flat';

export interface ExportRequest {
  repoId: string;
  /** Absolute directory to write into (created if missing). */
  dir: string;
  layout: ExportLayout;
  /** The ref to write (`refs/<revision>`); the repo's tracked revision by default. */
  revision?: string;
  /** Export the completed files even if some are not downloaded yet. */
  allowPartial: boolean;
}

export interface ExportSummary {
  repoId: string;
  commit: string;
  layout: ExportLayout;
  /** Where the repo landed: `<dir>/models--org--name` or `<dir>`. */
  root: string;
  files: number;
  bytes: number;
  /** Stored contents placed (one per distinct blob in hf-cache, one per file in flat). */
  linked: number;
  copied: number;
  present: number;
  /** Files left out because they are not downloaded (only with allowPartial). */
  missing: string[];
}

const COMMIT_SHA = /^[0-9a-f]{40}$/;
const ETAG = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const LISTED_MISSING = 5;
/** A blob is held while it is linked or copied out; long enough for a slow cross-filesystem copy. */
const EXPORT_LEASE_MS = 3_600_000;
const LEASE_POLL_MS = 250;

/**
 * export: materializes a repo's synced commit from the store for runtimes, as a Hugging Face cache
 * entry (blobs named by etag, relative snapshot symlinks, refs) or as a flat folder. Runs on the
 * hub's machine against its store; bytes are hard-linked from blobs/ and copied only across file
 * systems. Re-running over an existing export only fixes what differs.
 */
export class ExportService {
  constructor(
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly store: BlobStore,
    /** Content leases: a blob being exported is held, so GC and the quota never delete it meanwhile. */
    private readonly leases: LeasesRepository,
    /** This export's lease holder name. */
    private readonly holder: string,
    /** How long to wait for a blob another process holds (deleting or writing it), in ms. */
    private readonly leaseWaitMs = 30_000,
  ) {}

  async exportRepo(request: ExportRequest): Promise<ExportSummary> {
    if (!path.isAbsolute(request.dir)) {
      throw new Invalid('INVALID_PATH', `export directory must be absolute, got ${request.dir}`);
    }
    if (request.revision !== undefined) assertRevision('revision', request.revision);
    const model = await this.models.findByRepoId(request.repoId);
    if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${request.repoId} is not registered`);
    const commit = model.commitSha;
    if (model.status !== 'synced' || !commit) {
      throw new Invalid(
        'REPO_NOT_SYNCED',
        `Repository ${request.repoId} is not synced; sync and download it first`,
      );
    }
    const ref = refToWrite(model, commit, request.revision);
    const { ready, missing } = await this.exportableFiles(model);
    if (missing.length > 0 && !request.allowPartial) {
      throw new Invalid(
        'VALIDATION_FAILED',
        `${missing.length} file(s) of ${request.repoId} are not downloaded (${missing.slice(0, LISTED_MISSING).join(', ')}${missing.length > LISTED_MISSING ? ', …' : ''}); download them first, or pass --allow-partial`,
      );
    }
    const placements =
      request.layout === 'hf-cache'
        ? await this.writeCacheEntry(request.dir, model.repoId, commit, ref, ready)
        : await this.writeFlat(request.dir, ready);
    // Exported content is in use by a runtime: the store quota evicts it last.
    await this.artifacts.markUsed(
      ready.map((a) => a.id),
      nowIso(),
    );
    return {
      repoId: model.repoId,
      commit,
      layout: request.layout,
      root: request.layout === 'hf-cache' ? safeJoin(request.dir, repoFolderName(model.repoId)) : request.dir,
      files: ready.length,
      bytes: ready.reduce((sum, a) => sum + a.size, 0),
      linked: placements.filter((p) => p === 'linked').length,
      copied: placements.filter((p) => p === 'copied').length,
      present: placements.filter((p) => p === 'present').length,
      missing,
    };
  }

  /** Current files whose verified blob is on disk; the others are listed as missing. */
  private async exportableFiles(model: ModelRepoRow): Promise<{ ready: ArtifactRow[]; missing: string[] }> {
    const ready: ArtifactRow[] = [];
    const missing: string[] = [];
    for (const artifact of await this.artifacts.listByModel(model.id)) {
      if (artifact.removedAt !== null) continue;
      const stored =
        artifact.downloadStatus === 'completed' &&
        artifact.sha256 !== null &&
        (await this.store.hasBlob(artifact.sha256));
      if (stored) ready.push(artifact);
      else missing.push(artifact.path);
    }
    return { ready, missing };
  }

  private async writeCacheEntry(
    dir: string,
    repoId: string,
    commit: string,
    ref: string | undefined,
    files: ArtifactRow[],
  ): Promise<Placement[]> {
    const repoDir = safeJoin(dir, repoFolderName(repoId));
    const blobs = new Map<string, string>();
    for (const file of files) {
      const etag = cacheEtag(file) ?? (file.sha256 as string);
      if (!ETAG.test(etag))
        throw new Invalid('VALIDATION_FAILED', `${file.path} has no usable etag (${etag})`);
      blobs.set(etag, file.sha256 as string);
      await placeSymlink(
        snapshotLinkTarget(file.path, etag),
        safeJoin(repoDir, `snapshots/${commit}/${file.path}`),
      );
    }
    const placements: Placement[] = [];
    for (const [etag, sha256] of blobs) {
      placements.push(
        await this.whileHeld(sha256, () =>
          placeFile(this.store.blobPath(sha256), safeJoin(repoDir, `blobs/${etag}`), {
            sameNameSameContent: true,
          }),
        ),
      );
    }
    // huggingface_hub writes the bare commit and reads it back unstripped.
    if (ref) await placeText(safeJoin(repoDir, `refs/${ref}`), commit);
    return placements;
  }

  private async writeFlat(dir: string, files: ArtifactRow[]): Promise<Placement[]> {
    const placements: Placement[] = [];
    for (const file of files) {
      const sha256 = file.sha256 as string;
      placements.push(
        await this.whileHeld(sha256, () =>
          placeFile(this.store.blobPath(sha256), safeJoin(dir, file.path), { sameNameSameContent: false }),
        ),
      );
    }
    return placements;
  }

  /**
   * Places a blob under its content lease (the one GC, the quota and downloads take), so it cannot
   * be deleted while it is read; waits while another process holds it.
   */
  private async whileHeld(sha256: string, place: () => Promise<Placement>): Promise<Placement> {
    const key = blobLeaseKey(sha256);
    const deadline = Date.now() + this.leaseWaitMs;
    for (;;) {
      const until = new Date(Date.now() + EXPORT_LEASE_MS).toISOString();
      if (await this.leases.acquire(key, this.holder, nowIso(), until)) break;
      if (Date.now() > deadline) {
        throw new Conflict(
          'BLOB_BUSY',
          `Blob ${sha256} is held by another process (being deleted or written); try again`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
    try {
      if (!(await this.store.hasBlob(sha256))) {
        throw new Conflict(
          'BLOB_GONE',
          `Blob ${sha256} was evicted or collected meanwhile; download the repo again`,
        );
      }
      return await place();
    } finally {
      await this.leases.release(key, this.holder);
    }
  }
}

/**
 * The hub holds one commit per repo: the ref it tracks names it. A commit hash as revision writes
 * no ref (as huggingface_hub does), and must be that commit.
 */
function refToWrite(model: ModelRepoRow, commit: string, revision: string | undefined): string | undefined {
  const wanted = revision ?? model.revision;
  if (COMMIT_SHA.test(wanted)) {
    if (wanted !== commit) {
      throw new Invalid(
        'VALIDATION_FAILED',
        `the hub holds ${model.repoId} at commit ${commit}, not ${wanted}`,
      );
    }
    return undefined;
  }
  if (wanted !== model.revision) {
    throw new Invalid(
      'VALIDATION_FAILED',
      `the hub mirrors ${model.repoId} at revision ${model.revision}, not ${wanted}`,
    );
  }
  return wanted;
}
