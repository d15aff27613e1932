import { nowIso } from '../clock.js';
import { type ArtifactsRepository, contentLeaseKey } from '../db/artifacts.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { errorMessage } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { PartialDownloads } from '../store/partial-downloads.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import type { HubClient } from '../upstream/hf-client.js';
import type { SingleFlight } from './download/single-flight.js';
import { type TransferSettings, transferFile } from './download/transfer.js';
import type { ContentLocks } from './worker-leases.js';

export interface DownloadDeps {
  artifacts: ArtifactsRepository;
  store: BlobStore;
  partials: PartialDownloads;
  hub: HubClient;
  transfer: TransferSettings;
  /** One transfer per content at a time in this process; the others wait and reuse its blob. */
  inFlight: SingleFlight;
  /** One transfer per content at a time across all workers. */
  contentLocks: ContentLocks;
  /** Non-weight files up to this size are also placed under metadata/. */
  metadataMaxBytes: number;
  log: (message: string) => Promise<void>;
}

export type DownloadOutcome =
  | {
      status: 'completed';
      sha256: string;
      bytes: number;
      source: 'downloaded' | 'deduplicated' | 'present';
      resumedFrom?: number;
      connections?: number;
    }
  | { status: 'failed'; error: string };

type Completed = Extract<DownloadOutcome, { status: 'completed' }>;

const PROGRESS_INTERVAL_MS = 1000;
/** How often a worker waiting for another worker's download of the same content looks again. */
const CONTENT_LOCK_POLL_MS = 250;

/**
 * download_artifact: reuse a blob that already holds the advertised content, or transfer the file
 * (resumable, verified, fsynced, renamed into blobs/). The artifact row always ends `completed`
 * with its sha256 and local_path, or `failed` with the reason; no unverified byte is stored.
 */
export async function downloadArtifact(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<DownloadOutcome> {
  try {
    assertSafeRelativePath(artifact.path);
    const outcome = (await reuseExistingBlob(deps, artifact)) ?? (await transferOnce(deps, artifact, model));
    if (artifact.fileType !== 'model' && artifact.size <= deps.metadataMaxBytes) {
      await deps.store.materializeMetadata(`${model.vendor}_${model.name}`, artifact.path, outcome.sha256);
    }
    return outcome;
  } catch (error) {
    const message = errorMessage(error);
    await deps.artifacts.update(artifact.id, {
      downloadStatus: 'failed',
      error: message,
      updatedAt: nowIso(),
    });
    return { status: 'failed', error: message };
  }
}

/** Same content in two places at once: the first transfers it, the others take its verified blob. */
async function transferOnce(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Completed> {
  const contentKey = contentLeaseKey(artifact);
  let leader = false;
  const result = await deps.inFlight.run(contentKey, () => {
    leader = true;
    return transferExclusively(deps, artifact, model);
  });
  if (leader) return result;
  if (!(await deps.store.hasBlob(result.sha256))) return transferExclusively(deps, artifact, model);
  await markCompleted(
    deps,
    artifact,
    result.sha256,
    artifact.size,
    deps.store.blobRelativePath(result.sha256),
  );
  return { status: 'completed', sha256: result.sha256, bytes: 0, source: 'deduplicated' };
}

/**
 * Takes the content's lock before fetching a byte; while another worker holds it, waits and then
 * reuses the blob it stored. A holder that died frees the lock when its lease lapses, and the next
 * holder resumes from the partial file it left.
 */
async function transferExclusively(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Completed> {
  const key = contentLeaseKey(artifact);
  let announced = false;
  for (;;) {
    if (await deps.contentLocks.tryAcquire(key)) {
      try {
        return (await reuseExistingBlob(deps, artifact)) ?? (await transfer(deps, artifact, model));
      } finally {
        await deps.contentLocks.release(key);
      }
    }
    if (!announced) {
      announced = true;
      await deps.log(`Waiting for another worker that is downloading the same content as ${artifact.path}`);
    }
    await new Promise((resolve) => setTimeout(resolve, CONTENT_LOCK_POLL_MS));
    const reused = await reuseExistingBlob(deps, artifact);
    if (reused) return reused;
  }
}

/** Nothing is downloaded twice: a blob already holding the advertised content completes the artifact. */
async function reuseExistingBlob(deps: DownloadDeps, artifact: ArtifactRow): Promise<Completed | undefined> {
  const current = (await deps.artifacts.findById(artifact.id)) ?? artifact;
  if (
    current.downloadStatus === 'completed' &&
    current.sha256 &&
    (await deps.store.hasBlob(current.sha256))
  ) {
    return { status: 'completed', sha256: current.sha256, bytes: 0, source: 'present' };
  }
  const known =
    artifact.upstreamSha256 ??
    (artifact.upstreamOid ? await deps.artifacts.findCompletedSha256ByOid(artifact.upstreamOid) : undefined);
  if (!known || !(await deps.store.hasBlob(known))) return undefined;
  await markCompleted(deps, artifact, known, artifact.size, deps.store.blobRelativePath(known));
  return { status: 'completed', sha256: known, bytes: 0, source: 'deduplicated' };
}

async function transfer(deps: DownloadDeps, artifact: ArtifactRow, model: ModelRepoRow): Promise<Completed> {
  const commit = artifact.commitSha ?? model.commitSha;
  if (!commit) throw new Error(`Artifact ${artifact.path} has no pinned commit; sync the repo first`);
  await deps.artifacts.update(artifact.id, {
    downloadStatus: 'downloading',
    error: null,
    updatedAt: nowIso(),
  });
  let lastProgressAt = 0;
  let progressWrite = Promise.resolve();
  const result = await transferFile(
    {
      hub: deps.hub,
      store: deps.store,
      partials: deps.partials,
      log: deps.log,
      onProgress: (bytesDone) => {
        const now = Date.now();
        if (now - lastProgressAt < PROGRESS_INTERVAL_MS) return;
        lastProgressAt = now;
        progressWrite = progressWrite
          .then(() => deps.artifacts.update(artifact.id, { bytesDownloaded: bytesDone, updatedAt: nowIso() }))
          .catch(() => undefined);
      },
    },
    {
      key: artifact.id,
      repoId: model.repoId,
      commit,
      path: artifact.path,
      size: artifact.size,
      sha256: artifact.upstreamSha256,
      gitOid: artifact.upstreamOid,
    },
    deps.transfer,
  );
  await progressWrite;
  await markCompleted(deps, artifact, result.sha256, artifact.size, result.relativePath);
  return {
    status: 'completed',
    sha256: result.sha256,
    bytes: result.bytes,
    source: 'downloaded',
    resumedFrom: result.resumedFrom,
    connections: result.connections,
  };
}

async function markCompleted(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  sha256: string,
  bytes: number,
  relativePath: string,
): Promise<void> {
  await deps.artifacts.update(artifact.id, {
    downloadStatus: 'completed',
    sha256,
    localPath: relativePath,
    bytesDownloaded: bytes,
    error: null,
    updatedAt: nowIso(),
  });
}
