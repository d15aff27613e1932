import { setTimeout as sleep } from 'node:timers/promises';
import { nowIso } from '../clock.js';
import { type ArtifactsRepository, contentLeaseKey } from '../db/artifacts.repo.js';
import { databaseOutage } from '../db/outage.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { AppError, errorMessage, IntegrityError } from '../errors.js';
import { artifactProgressEvent } from '../events/artifact-progress.js';
import type { EventLog } from '../events/event-log.js';
import type { JobProgress } from '../events/job-progress.js';
import type { HubInstrumentation } from '../events/metrics.js';
import { type BlobStore, metadataFolder } from '../store/blob-store.js';
import type { PartialDownloads } from '../store/partial-downloads.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import type { HubClient } from '../upstream/hf-client.js';
import type { SingleFlight } from './download/single-flight.js';
import { type TransferSettings, transferFile } from './download/transfer.js';
import { type ContentLocks, LeaseLost, type OutageRetry } from './worker-leases.js';

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
  /** Aborts when the job's lease is lost: stop at once, keep the partial, write no final state. */
  signal?: AbortSignal;
  /** Writes that must survive a database outage (the artifact's completion) go through it. */
  retryOutage?: OutageRetry;
  /** Non-weight files up to this size are also placed under metadata/. */
  metadataMaxBytes: number;
  log: (message: string) => Promise<void>;
  /** The job this download runs in: its events carry the id, its progress counts the bytes. */
  jobId: string;
  progress: JobProgress;
  events: EventLog;
  metrics: HubInstrumentation;
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
  deps.progress.fileStarted(artifact.id, artifact.path, artifact.size);
  try {
    assertSafeRelativePath(artifact.path);
    const outcome = (await reuseExistingBlob(deps, artifact)) ?? (await transferOnce(deps, artifact, model));
    await linkIfMetadata(deps, artifact, model, outcome.sha256);
    if (outcome.source === 'present') {
      await deps.artifacts.markUsed([artifact.id], nowIso());
      await deps.events.record(completedEvent(deps, artifact, outcome.sha256, 'present', 0));
    }
    deps.progress.fileFinished(artifact.id, { ok: true, size: artifact.size });
    return outcome;
  } catch (error) {
    return failedOutcome(deps, artifact, error);
  }
}

/** A config, tokenizer or other small non-weight file also gets its link in the model's metadata folder. */
export async function linkIfMetadata(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
  sha256: string,
): Promise<void> {
  if (artifact.fileType !== 'model' && artifact.size <= deps.metadataMaxBytes) {
    await deps.store.materializeMetadata(metadataFolder(model.repoId), artifact.path, sha256);
  }
}

/**
 * A file's download ended in `error`: the artifact is failed (row and event), its progress ended.
 * A stopped job or a database outage says nothing about the artifact: rethrown, so the job's new
 * owner, or its retry, carries on.
 */
export async function failedOutcome(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  error: unknown,
): Promise<DownloadOutcome> {
  if (deps.signal?.aborted || databaseOutage(error) !== undefined) throw error;
  if (error instanceof IntegrityError) deps.metrics.integrityFailure(error.algorithm);
  const message = await recordFailure(deps, artifact, error);
  deps.progress.fileFinished(artifact.id, { ok: false, size: artifact.size });
  return { status: 'failed', error: message };
}

/** The artifact failed: its row and its `artifact.failed` event, in one commit. Returns the message. */
async function recordFailure(
  deps: Pick<DownloadDeps, 'artifacts' | 'events' | 'jobId'>,
  artifact: ArtifactRow,
  error: unknown,
): Promise<string> {
  const message = errorMessage(error);
  await deps.events.commit(
    (trx) =>
      deps.artifacts.in(trx).update(artifact.id, {
        downloadStatus: 'failed',
        error: message,
        updatedAt: nowIso(),
      }),
    [
      {
        type: 'artifact.failed',
        job_id: deps.jobId,
        model_id: artifact.modelId,
        artifact_id: artifact.id,
        data: {
          path: artifact.path,
          error: message,
          ...(error instanceof AppError ? { code: error.code } : {}),
        },
      },
    ],
  );
  return message;
}

/** Same content in two places at once: the first transfers it, the others take its verified blob. */
async function transferOnce(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Completed> {
  const contentKey = contentLeaseKey(artifact);
  let leader = false;
  let result: Completed;
  try {
    result = await deps.inFlight.run(contentKey, () => {
      leader = true;
      return transferExclusively(deps, artifact, model);
    });
  } catch (error) {
    // The leader's job was taken over by another worker; this job still wants the content.
    if (leader || !(error instanceof LeaseLost) || deps.signal?.aborted) throw error;
    return transferExclusively(deps, artifact, model);
  }
  if (leader) return result;
  if (!(await deps.store.hasBlob(result.sha256))) return transferExclusively(deps, artifact, model);
  await markCompleted(deps, artifact, result.sha256, deps.store.blobRelativePath(result.sha256), {
    source: 'deduplicated',
    bytes: 0,
  });
  return { status: 'completed', sha256: result.sha256, bytes: 0, source: 'deduplicated' };
}

/**
 * Takes the content's lock before fetching a byte; while another worker holds it, waits and then
 * reuses the blob it stored. A holder that died frees the lock when its lease lapses, and the next
 * holder resumes from the partial file it left. A holder that loses the lock (it lapsed while the
 * worker was stalled, and another took it) stops its transfer and waits like any other.
 */
async function transferExclusively(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Completed> {
  const key = contentLeaseKey(artifact);
  let announced = false;
  for (;;) {
    const lock = await deps.contentLocks.tryAcquire(key);
    if (lock) {
      try {
        return (
          (await reuseExistingBlob(deps, artifact)) ?? (await transfer(deps, artifact, model, lock.signal))
        );
      } catch (error) {
        if (!lock.signal.aborted || deps.signal?.aborted) throw error;
        announced = true;
        await deps.log(`Another worker took over downloading ${artifact.path}; waiting for it`);
      } finally {
        await lock.release();
      }
    } else if (!announced) {
      announced = true;
      await deps.log(`Waiting for another worker that is downloading the same content as ${artifact.path}`);
    }
    await sleep(CONTENT_LOCK_POLL_MS, undefined, deps.signal ? { signal: deps.signal } : {}).catch(
      (error: unknown) => {
        throw deps.signal?.reason ?? error;
      },
    );
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
  await markCompleted(deps, artifact, known, deps.store.blobRelativePath(known), {
    source: 'deduplicated',
    bytes: 0,
  });
  return { status: 'completed', sha256: known, bytes: 0, source: 'deduplicated' };
}

async function transfer(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
  lockLost: AbortSignal,
): Promise<Completed> {
  const commit = artifact.commitSha ?? model.commitSha;
  if (!commit) throw new Error(`Artifact ${artifact.path} has no pinned commit; sync the repo first`);
  await deps.artifacts.update(artifact.id, {
    downloadStatus: 'downloading',
    error: null,
    updatedAt: nowIso(),
  });
  let lastBytesDone: number | undefined;
  const result = await transferFile(
    {
      hub: deps.hub,
      store: deps.store,
      partials: deps.partials,
      log: deps.log,
      metrics: deps.metrics,
      signal: deps.signal ? AbortSignal.any([deps.signal, lockLost]) : lockLost,
      // The first report is where the transfer starts (a resumed prefix was not received now).
      onProgress: (bytesDone) => {
        const received = Math.max(0, bytesDone - (lastBytesDone ?? bytesDone));
        deps.progress.fileProgress(artifact.id, bytesDone, received);
        lastBytesDone = bytesDone;
      },
      onDurable: (durableBytes, start) =>
        deps.events.publishTransient(
          artifactProgressEvent(
            { jobId: deps.jobId, modelId: artifact.modelId, artifactId: artifact.id },
            { durableBytes, start },
          ),
        ),
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
  await markCompleted(deps, artifact, result.sha256, result.relativePath, {
    source: 'downloaded',
    bytes: result.bytes,
  });
  return {
    status: 'completed',
    sha256: result.sha256,
    bytes: result.bytes,
    source: 'downloaded',
    resumedFrom: result.resumedFrom,
    connections: result.connections,
  };
}

/** Where a completed artifact's content came from, as its `artifact.completed` event says. */
type CompletionSource = Completed['source'] | 'imported';
type CompletionDeps = Pick<DownloadDeps, 'artifacts' | 'events' | 'jobId' | 'retryOutage'>;

/**
 * The artifact holds verified content now: its row and its `artifact.completed` event, in one commit,
 * retried through a database outage: the blob is stored, so the row must say so, whichever worker
 * holds the job by then.
 */
export async function markCompleted(
  deps: CompletionDeps,
  artifact: ArtifactRow,
  sha256: string,
  relativePath: string,
  how: { source: CompletionSource; bytes: number },
): Promise<void> {
  const write = () => commitCompleted(deps, artifact, sha256, relativePath, how);
  await (deps.retryOutage ? deps.retryOutage(`the completion of ${artifact.path}`, write) : write());
}

async function commitCompleted(
  deps: CompletionDeps,
  artifact: ArtifactRow,
  sha256: string,
  relativePath: string,
  how: { source: CompletionSource; bytes: number },
): Promise<void> {
  await deps.events.commit(
    (trx) =>
      deps.artifacts.in(trx).update(artifact.id, {
        downloadStatus: 'completed',
        sha256,
        localPath: relativePath,
        bytesDownloaded: artifact.size,
        error: null,
        updatedAt: nowIso(),
        lastUsedAt: nowIso(),
      }),
    [completedEvent(deps, artifact, sha256, how.source, how.bytes)],
  );
}

export function completedEvent(
  deps: Pick<CompletionDeps, 'jobId'>,
  artifact: ArtifactRow,
  sha256: string,
  source: CompletionSource,
  bytesDownloaded: number,
) {
  return {
    type: 'artifact.completed' as const,
    job_id: deps.jobId,
    model_id: artifact.modelId,
    artifact_id: artifact.id,
    data: { path: artifact.path, size: artifact.size, sha256, source, bytes_downloaded: bytesDownloaded },
  };
}
