import { nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { errorMessage, IntegrityError, UpstreamError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { ContentHasher } from '../store/content-hasher.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import { TempFileWriter } from '../store/temp-file.js';
import type { HubClient } from '../upstream/hf-client.js';
import { type RetryPolicy, withRetry } from '../upstream/retry.js';

export interface DownloadDeps {
  artifacts: ArtifactsRepository;
  store: BlobStore;
  hub: HubClient;
  retry: RetryPolicy;
  /** Non-weight files up to this size are also placed under metadata/. */
  metadataMaxBytes: number;
  log: (message: string) => Promise<void>;
}

export type DownloadOutcome =
  | { status: 'completed'; sha256: string; bytes: number; source: 'downloaded' | 'deduplicated' | 'present' }
  | { status: 'failed'; error: string };

const PROGRESS_INTERVAL_MS = 1000;

/**
 * download_artifact: stream → temp/ (hashing as bytes arrive) → verify against the LFS sha256 or
 * git blob sha1 and the size → fsync → atomic rename into blobs/. The artifact row ends either
 * `completed` with its sha256 and local_path, or `failed` with the reason; no unverified byte is
 * ever stored under blobs/.
 */
export async function downloadArtifact(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<DownloadOutcome> {
  try {
    assertSafeRelativePath(artifact.path);
    const reused = await reuseExistingBlob(deps, artifact);
    const outcome = reused ?? (await transferWithRetry(deps, artifact, model));
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

/** Nothing is downloaded twice: a blob already holding the advertised content completes the artifact. */
async function reuseExistingBlob(
  deps: DownloadDeps,
  artifact: ArtifactRow,
): Promise<Extract<DownloadOutcome, { status: 'completed' }> | undefined> {
  const known = artifact.upstreamSha256 ?? (artifact.downloadStatus === 'completed' ? artifact.sha256 : null);
  if (!known || !(await deps.store.hasBlob(known))) return undefined;
  const source =
    artifact.downloadStatus === 'completed' && artifact.sha256 === known ? 'present' : 'deduplicated';
  await markCompleted(deps, artifact, known, artifact.size);
  return { status: 'completed', sha256: known, bytes: 0, source };
}

async function transferWithRetry(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Extract<DownloadOutcome, { status: 'completed' }>> {
  const commit = artifact.commitSha ?? model.commitSha;
  if (!commit) throw new Error(`Artifact ${artifact.path} has no pinned commit; sync the repo first`);
  await deps.artifacts.update(artifact.id, {
    downloadStatus: 'downloading',
    bytesDownloaded: 0,
    error: null,
    updatedAt: nowIso(),
  });
  return withRetry(
    () => transferOnce(deps, artifact, model.repoId, commit),
    deps.retry,
    (error, attempt, delayMs) =>
      void deps.log(
        `Retrying ${artifact.path} (attempt ${attempt}) in ${delayMs} ms: ${errorMessage(error)}`,
      ),
  );
}

async function transferOnce(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  repoId: string,
  commit: string,
): Promise<Extract<DownloadOutcome, { status: 'completed' }>> {
  const isLfs = artifact.upstreamSha256 !== null;
  const hasher = new ContentHasher(isLfs ? {} : { gitBlobSize: artifact.size });
  const writer = await TempFileWriter.create(deps.store.tempPath(artifact.id));
  let committed = false;
  try {
    const upstream = await deps.hub.openFile(repoId, commit, artifact.path);
    if (upstream.status !== 200) {
      upstream.body.destroy();
      throw new UpstreamError(
        'UPSTREAM_BAD_RESPONSE',
        `Upstream answered ${upstream.status} for ${artifact.path}`,
        {
          retryable: true,
        },
      );
    }
    let lastProgressAt = Date.now();
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      hasher.update(chunk);
      if (hasher.size > artifact.size) {
        upstream.body.destroy();
        throw new IntegrityError(
          'size',
          `${artifact.size} bytes`,
          `more than ${artifact.size}`,
          artifact.path,
        );
      }
      await writer.write(chunk);
      if (Date.now() - lastProgressAt >= PROGRESS_INTERVAL_MS) {
        lastProgressAt = Date.now();
        await deps.artifacts.update(artifact.id, { bytesDownloaded: hasher.size, updatedAt: nowIso() });
      }
    }
    const digest = hasher.digest();
    verify(artifact, digest);
    await writer.finish();
    const { relativePath } = await deps.store.commitTemp(writer.path, digest.sha256);
    committed = true;
    await markCompleted(deps, artifact, digest.sha256, digest.size, relativePath);
    return { status: 'completed', sha256: digest.sha256, bytes: digest.size, source: 'downloaded' };
  } finally {
    if (!committed) {
      await writer.abort();
      await deps.store.discardTemp(writer.path);
    }
  }
}

function verify(
  artifact: ArtifactRow,
  digest: { sha256: string; gitSha1: string | undefined; size: number },
): void {
  if (digest.size !== artifact.size) {
    throw new IntegrityError('size', `${artifact.size} bytes`, `${digest.size} bytes`, artifact.path);
  }
  if (artifact.upstreamSha256 !== null) {
    if (digest.sha256 !== artifact.upstreamSha256) {
      throw new IntegrityError('sha256', artifact.upstreamSha256, digest.sha256, artifact.path);
    }
  } else if (artifact.upstreamOid !== null && digest.gitSha1 !== artifact.upstreamOid) {
    throw new IntegrityError('git-sha1', artifact.upstreamOid, digest.gitSha1 ?? 'none', artifact.path);
  }
}

async function markCompleted(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  sha256: string,
  bytes: number,
  relativePath = deps.store.blobRelativePath(sha256),
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
