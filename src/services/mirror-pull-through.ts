import { Readable } from 'node:stream';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { JobsRepository } from '../db/jobs.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { AppError, Conflict, Forbidden, UpstreamError } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import { isTerminalJobEvent } from '../events/hub-event.js';
import type { BlobStore } from '../store/blob-store.js';
import type { PartialDownloads } from '../store/partial-downloads.js';
import type { HubClient } from '../upstream/hf-client.js';
import { DownloadWatch, readGrowingFile } from './download-watch.js';
import type { JobsService } from './jobs.service.js';
import {
  type MirrorFile,
  MirrorNotFound,
  type MirrorRepo,
  type MirrorUpstream,
  mention,
  type OpenedFile,
  revisionNotFound,
} from './mirror.service.js';
import { RevisionFreshness } from './mirror-freshness.js';
import type { RegistryService } from './registry.service.js';
import { isCommitId, revisionProblem } from './revision.js';

/**
 * Pull-through (`MIRROR_MODE=pull-through`): what a Hugging Face client asks for and the hub does
 * not hold yet, it fetches through its own engine, so it is stored (verified) for the next client.
 *
 * - A repo it does not know: upstream is asked first (so an unknown, private or gated repo is
 *   answered with the hub's error and nothing is registered), then it is registered (vendor and
 *   name from the repo id) and synced, and the request waits for the sync (`syncTimeoutMs`, then
 *   504). A sync that fails after that leaves the repo registered in its `error` state; the next
 *   request syncs it again.
 * - A file not downloaded: a download of it is requested (or the active one joined, so concurrent
 *   clients make one download) and its bytes are streamed as the engine reports them durable
 *   (download-watch.ts). The answer waits until upstream has sent bytes (`firstByteTimeoutMs`,
 *   then 504) so a failure before that is a proper error (502, or the hub's own code); a failure
 *   after it cuts the response short.
 */
export interface PullThroughDeps {
  models: ModelsRepository;
  artifacts: ArtifactsRepository;
  jobRows: JobsRepository;
  registry: RegistryService;
  jobs: JobsService;
  hub: HubClient;
  bus: EventBus;
  store: BlobStore;
  partials: PartialDownloads;
  /** How long a request waits for the sync of a repo pulled through (ms, default 60 s). */
  syncTimeoutMs?: number;
  /** How long a request waits for the first bytes of a file pulled through (ms). */
  firstByteTimeoutMs: number;
  /** How often a tracked branch or tag is re-resolved upstream (ms, `MIRROR_REVISION_TTL`). */
  revisionTtlMs: number;
  /** How long a request waits for that answer before the last synced commit is served (ms, default 5 s). */
  revisionCheckTimeoutMs?: number;
  /** Where the mirror says it served a stale commit because upstream could not be asked. */
  warn: (message: string) => void;
}

/** Upstream did not answer in time: 504. */
export class MirrorTimeout extends AppError {
  constructor(message: string) {
    super('UPSTREAM_UNAVAILABLE', message);
  }
}

const DEFAULT_SYNC_TIMEOUT_MS = 60_000;
const DEFAULT_REVISION_CHECK_TIMEOUT_MS = 5_000;

export class MirrorPullThrough implements MirrorUpstream {
  private readonly freshness: RevisionFreshness;

  constructor(private readonly deps: PullThroughDeps) {
    this.freshness = new RevisionFreshness({
      ttlMs: deps.revisionTtlMs,
      checkTimeoutMs: deps.revisionCheckTimeoutMs ?? DEFAULT_REVISION_CHECK_TIMEOUT_MS,
      resolveHead: (model) => deps.hub.resolveCommit(model.repoId, model.revision),
      syncToHead: (model) => this.syncAndWait(model),
      warn: deps.warn,
    });
  }

  refresh(model: ModelRepoRow): Promise<ModelRepoRow> {
    return this.freshness.current(model);
  }

  async pullRepo(
    repoId: string,
    registered: ModelRepoRow | undefined,
    revisionHint: string | undefined,
  ): Promise<ModelRepoRow> {
    const notHeld = registered
      ? `${repoId} is registered on this hub but not synced yet`
      : `${repoId} is not on this hub`;
    const askUpstream = (revision: string) =>
      this.deps.hub.resolveCommit(repoId, revision).catch((error: unknown) => {
        throw (error instanceof UpstreamError && refusal(error.code, { repoId, revision, notHeld })) || error;
      });
    let revision = registered?.revision ?? trackedRevision(revisionHint);
    const head = await askUpstream(revision);
    // A commit that is not the head of main is what the client pinned: the repo is held at it.
    if (!registered && revisionHint !== undefined && isCommitId(revisionHint) && revisionHint !== head) {
      await askUpstream(revisionHint);
      revision = revisionHint;
    }
    const model = registered ?? (await this.register(repoId, revision));
    return this.syncAndWait(model);
  }

  /** Syncs `model` (joining a sync already running) and answers its row once synced. */
  private async syncAndWait(model: ModelRepoRow): Promise<ModelRepoRow> {
    const { deps } = this;
    const { job } = await deps.jobs.requestSyncFor(model);
    const timeoutMs = deps.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    const status = await this.waitForJob(job.id, timeoutMs, model.repoId);
    const synced = await deps.models.findById(model.id);
    if (status === 'completed' && synced?.commitSha != null) return synced;
    throw new UpstreamError(
      'UPSTREAM_UNAVAILABLE',
      `Syncing ${model.repoId} from upstream ${status === 'failed' ? 'failed' : 'did not finish'}: ${synced?.error ?? 'no commit recorded'}`,
      { retryable: true },
    );
  }

  async pullFile(repo: MirrorRepo, artifact: ArtifactRow, file: MirrorFile): Promise<OpenedFile> {
    const { deps } = this;
    // Listening before asking: no report of this download can be missed.
    const watch = new DownloadWatch(deps.bus, artifact.id);
    try {
      const current = await deps.artifacts.findById(artifact.id);
      if (current?.downloadStatus === 'completed' && current.sha256) {
        watch.committedSha256 = current.sha256;
      } else {
        await deps.jobs.requestDownload([artifact.id]);
        await this.waitForFirstBytes(watch, repo, file);
      }
    } catch (error) {
      watch.close();
      throw error;
    }
    const growing = {
      watch,
      partialPath: deps.partials.dataPath(artifact.id),
      blobPath: (sha256: string) => deps.store.blobPath(sha256),
      sizeBytes: file.sizeBytes,
    };
    return {
      file,
      sizeBytes: file.sizeBytes,
      stream: (start, end) => {
        const stream = Readable.from(readGrowingFile(growing, start, end), { objectMode: false });
        stream.once('close', () => watch.close());
        return stream;
      },
      close: async () => watch.close(),
    };
  }

  /** Until upstream sent bytes of it (or it is stored already); its failure before that is the answer. */
  private async waitForFirstBytes(watch: DownloadWatch, repo: MirrorRepo, file: MirrorFile): Promise<void> {
    const deadline = Date.now() + this.deps.firstByteTimeoutMs;
    for (;;) {
      if (watch.failure) {
        const context = { repoId: repo.repoId, revision: repo.trackedRevision, notHeld: repo.repoId };
        throw (
          refusal(watch.failure.code, context) ??
          new UpstreamError(
            'UPSTREAM_UNAVAILABLE',
            `Could not fetch ${mention(file.path)} of ${repo.repoId} from upstream: ${watch.failure.message}`,
            { retryable: true },
          )
        );
      }
      if (watch.receiving || watch.committedSha256 !== undefined) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new MirrorTimeout(
          `Upstream sent no bytes of ${mention(file.path)} of ${repo.repoId} within ${this.deps.firstByteTimeoutMs} ms; its download goes on, try again later`,
        );
      }
      await watch.changed(left);
    }
  }

  private async register(repoId: string, revision: string): Promise<ModelRepoRow> {
    const [vendor = '', name = ''] = repoId.split('/');
    try {
      const { model } = await this.deps.registry.registerRepo({
        vendor,
        name,
        sourceRepoId: repoId,
        revision,
        autoSync: false,
        // pullRepo asked upstream about it just now: asking again would cost the client a round trip.
        verify: false,
      });
      return model;
    } catch (error) {
      // Another request registered it first: pull through the same row.
      const model = error instanceof Conflict ? await this.deps.models.findByRepoId(repoId) : undefined;
      if (!model) throw error;
      return model;
    }
  }

  /** The job's final status, as its terminal event says (or its row, if it ended before we listened). */
  private async waitForJob(
    jobId: string,
    timeoutMs: number,
    repoId: string,
  ): Promise<'completed' | 'failed'> {
    let wake: (() => void) | undefined;
    let ended: 'completed' | 'failed' | undefined;
    const unsubscribe = this.deps.bus.subscribe((event) => {
      if (event.job_id !== jobId || !isTerminalJobEvent(event)) return;
      ended = event.type === 'job.completed' ? 'completed' : 'failed';
      wake?.();
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const row = await this.deps.jobRows.findById(jobId);
      if (row?.status === 'completed') return 'completed';
      // Cancelled (by an operator) counts as failed: the request has nothing to serve.
      if (row?.status === 'failed' || row?.status === 'cancelled') return 'failed';
      if (ended === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, timeoutMs);
        });
      }
      if (ended === undefined) {
        throw new MirrorTimeout(
          `Syncing ${repoId} from upstream takes longer than ${timeoutMs} ms; it goes on, try again later`,
        );
      }
      return ended;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }
}

/** The branch a repo pulled through tracks: the one the client named, else main. */
function trackedRevision(hint: string | undefined): string {
  if (hint === undefined || hint === 'HEAD' || isCommitId(hint) || hint.startsWith('refs/')) return 'main';
  return revisionProblem(hint) === undefined ? hint : 'main';
}

/** Upstream's refusal as the hub's own error (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound). */
function refusal(
  code: string | undefined,
  context: { repoId: string; revision: string; notHeld: string },
): AppError | undefined {
  switch (code) {
    case 'UPSTREAM_REPO_NOT_FOUND':
      return new MirrorNotFound(
        'REPO_NOT_FOUND',
        `Repository not found: ${context.notHeld}, and upstream does not have it (or it is private)`,
      );
    case 'UPSTREAM_GATED':
      return new Forbidden(
        'UPSTREAM_GATED',
        `Access to ${context.repoId} is restricted upstream, and this hub's token has no access to it`,
      );
    case 'UPSTREAM_REVISION_NOT_FOUND':
      return revisionNotFound(context.revision);
    case 'UPSTREAM_ENTRY_NOT_FOUND':
      return new MirrorNotFound(
        'ARTIFACT_NOT_FOUND',
        `Entry not found: upstream has no such file in ${context.repoId}`,
      );
    default:
      return undefined;
  }
}
