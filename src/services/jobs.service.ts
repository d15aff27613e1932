import { createHash } from 'node:crypto';
import { newId, nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import {
  type JobListRow,
  type JobLogLine,
  type JobsRepository,
  LOG_HEAD_LINES,
  LOG_TAIL_LINES,
  type NumberedLogLine,
} from '../db/jobs.repo.js';
import { fromJson, toJson } from '../db/json.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, JobRow, JobStatus, JobType, ModelRepoRow } from '../db/schema.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import type { EventLog } from '../events/event-log.js';
import { emptyProgress, type ProgressSnapshot } from '../events/job-progress.js';
import type { JobQueue } from '../queue/job-queue.js';
import { inspectImportSource } from '../store/hf-cache-layout.js';
import type { ImportRoots } from '../store/import-roots.js';
import type {
  DownloadPayload,
  GcPayload,
  ImportPayload,
  ScanPayload,
  SyncPayload,
} from '../tasks/job-payloads.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { pathMatcher } from './path-patterns.js';

export interface JobView {
  id: string;
  type: JobType;
  status: JobStatus;
  payload: unknown;
  result: unknown;
  error: string | null;
  progress: ProgressSnapshot;
  attempts: number;
  /** The worker holding the job's lease while it runs. */
  worker: string | null;
  /** The failed or cancelled job this one retries. */
  retryOf: string | null;
  /** When a cancel was asked for (the job may still be running until its worker stops it). */
  cancelRequestedAt: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** One job with its whole kept log (at most LOG_HEAD_LINES + LOG_TAIL_LINES lines and a marker). */
export interface JobDetailView extends JobView {
  logs: JobLogLine[];
}

export interface JobLogPage {
  /** Oldest first; where lines were dropped, one marker line stands at the cut. */
  items: JobLogLine[];
  nextCursor: string | null;
  /** Lines written between the kept first and last ones, and not kept. */
  droppedLines: number;
}

export interface JobRequestOutcome {
  job: JobRow;
  message: string;
}

/** A client's `Idempotency-Key` and the fingerprint of the request it came with (see http/idempotency.ts). */
export interface Idempotency {
  key: string;
  fingerprint: string;
}

type JobPayload = SyncPayload | DownloadPayload | GcPayload | ImportPayload | ScanPayload;

/** A job to create, unless an active one of the same `dedup.key` is joined instead. */
interface JobSpec {
  type: JobType;
  payload: JobPayload;
  /** What the client is told when the job is created. */
  created: string;
  /** What the job does, and what the client is told when an active job doing it is joined. */
  dedup?: { key: string; joined: string };
  /** The job this one retries. */
  retryOf?: string;
  /** Its progress before it starts, when its totals are known. */
  progress?: ProgressSnapshot;
}

/**
 * An insert that loses to an active job can find that job already finished when it reads it; it then
 * inserts again. Each round needs a job to finish in between, so a few rounds are plenty.
 */
const CREATE_ATTEMPTS = 5;

export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly queue: JobQueue,
    private readonly events: EventLog,
    private readonly importRoots: ImportRoots,
  ) {}

  async requestSync(repoId: string, idempotency?: Idempotency): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => {
      const model = await this.models.findByRepoId(repoId);
      if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${repoId} is not registered`);
      return syncSpec(model);
    });
  }

  /** The sync a registration with auto_sync asks for, once the model row exists. */
  async requestSyncFor(model: ModelRepoRow): Promise<JobRequestOutcome> {
    return this.createOrJoin(syncSpec(model));
  }

  async requestDownload(artifactIds: string[], idempotency?: Idempotency): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => {
      const unique = [...new Set(artifactIds)];
      const rows = await this.artifacts.findByIds(unique);
      const found = new Set(rows.map((a) => a.id));
      const missing = unique.filter((id) => !found.has(id));
      if (missing.length > 0) {
        throw new NotFound('ARTIFACT_NOT_FOUND', `Unknown artifact id(s): ${missing.join(', ')}`);
      }
      return downloadSpec(rows);
    });
  }

  /** Every current file of a registered repo, or those matching `include` and not `exclude` (globs). */
  async requestRepoDownload(
    repoId: string,
    include?: string[],
    exclude?: string[],
    idempotency?: Idempotency,
  ): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => {
      const model = await this.models.findByRepoId(repoId);
      if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${repoId} is not registered`);
      const artifacts = (await this.artifacts.listByModel(model.id)).filter((a) => a.removedAt === null);
      if (artifacts.length === 0) {
        throw new Invalid('REPO_NOT_SYNCED', `Repository ${repoId} has no files yet; sync it first`);
      }
      const wanted = selectPaths(
        artifacts.map((a) => a.path),
        include,
        exclude,
      );
      const selected = artifacts.filter((a) => wanted.has(a.path));
      if (selected.length === 0) {
        throw new Invalid('VALIDATION_FAILED', `No file of ${repoId} matches include/exclude`);
      }
      return downloadSpec(selected);
    });
  }

  /** A scan of the whole store, or of one registered repo's artifacts; an identical active scan is joined. */
  async requestScan(
    options: { deep: boolean; repoId?: string },
    idempotency?: Idempotency,
  ): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => {
      let payload: ScanPayload = { deep: options.deep };
      if (options.repoId !== undefined) {
        const model = await this.models.findByRepoId(options.repoId);
        if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${options.repoId} is not registered`);
        payload = { ...payload, model_id: model.id, repo_id: model.repoId };
      }
      return scanSpec(payload);
    });
  }

  /**
   * A new job for what a failed or cancelled job did not complete: a download's artifacts that are
   * not downloaded now (their partial files resume), a sync of the same repo, a scan, GC or import with
   * the same payload. Joins an active job doing the same, like any other request.
   */
  async requestRetry(jobId: string): Promise<JobRequestOutcome> {
    const old = await this.findJob(jobId);
    if (old.status !== 'failed' && old.status !== 'cancelled') {
      throw new Conflict(
        'JOB_NOT_RETRYABLE',
        `Job ${old.id} is ${old.status}; only a failed or cancelled job can be retried`,
      );
    }
    const spec = await this.retrySpec(old);
    await this.queue.ping();
    return this.createOrJoin({
      ...spec,
      retryOf: old.id,
      created: `${spec.created} (retry of ${old.status} job ${old.id})`,
    });
  }

  private async retrySpec(old: JobRow): Promise<JobSpec> {
    const notRetryable = (why: string) =>
      new Conflict('JOB_NOT_RETRYABLE', `Job ${old.id} cannot be retried: ${why}`);
    switch (old.type) {
      case 'download': {
        const payload = fromJson<DownloadPayload>(old.payload);
        const artifacts = await this.artifacts.findByIds(payload?.artifact_ids ?? []);
        const left = artifacts.filter((a) => a.downloadStatus !== 'completed');
        if (artifacts.length === 0) throw notRetryable('none of its artifacts exists any more');
        if (left.length === 0) throw notRetryable('every one of its artifacts is downloaded now');
        return downloadSpec(left);
      }
      case 'sync': {
        const payload = fromJson<SyncPayload>(old.payload);
        const model = payload && (await this.models.findById(payload.model_id));
        if (!model) throw notRetryable(`repository ${payload?.repo_id ?? '?'} is no longer registered`);
        return syncSpec(model);
      }
      case 'scan':
        return scanSpec(fromJson<ScanPayload>(old.payload) ?? { deep: false });
      case 'gc': {
        const payload = fromJson<GcPayload>(old.payload) ?? { dry_run: true };
        return gcSpec({
          dryRun: payload.dry_run,
          ...(payload.grace_ms === undefined ? {} : { graceMs: payload.grace_ms }),
          ...(payload.only_sha256 === undefined ? {} : { onlySha256: payload.only_sha256 }),
        });
      }
      case 'import': {
        const payload = fromJson<ImportPayload>(old.payload);
        if (!payload) throw notRetryable('its payload is unreadable');
        return { type: 'import', payload, created: 'Import job queued' };
      }
    }
  }

  async requestGc(
    options: { dryRun: boolean; graceMs?: number },
    idempotency?: Idempotency,
  ): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => gcSpec(options));
  }

  /** The collection of a purged model's blobs, once the model row is gone. */
  async requestBlobCollection(sha256: string[]): Promise<JobRequestOutcome> {
    return this.createOrJoin(gcSpec({ dryRun: false, graceMs: 0, onlySha256: sha256 }));
  }

  /**
   * Files already on the hub's machine (a Hugging Face cache, or a plain folder for `repoId`); the
   * path must lie inside IMPORT_ROOTS (else 403, no job), and is checked now so a mistake is an
   * answer, not a failed job.
   */
  async requestImport(dir: string, repoId?: string, idempotency?: Idempotency): Promise<JobRequestOutcome> {
    return this.submit(idempotency, async () => {
      const source = await inspectImportSource(await this.importRoots.resolve(dir));
      if (repoId !== undefined && !(await this.models.findByRepoId(repoId))) {
        throw new NotFound('REPO_NOT_FOUND', `Repository ${repoId} is not registered`);
      }
      if (source.kind === 'folder' && repoId === undefined) {
        throw new Invalid(
          'VALIDATION_FAILED',
          `${dir} is not a Hugging Face cache (no models--org--name folder); pass repo_id to import a plain folder`,
        );
      }
      const what = source.kind === 'folder' ? `a folder of ${repoId}` : 'a Hugging Face cache';
      return {
        type: 'import',
        payload: { path: dir, ...(repoId === undefined ? {} : { repo_id: repoId }) },
        created: `Import job queued for ${what}`,
      };
    });
  }

  /**
   * A client's request for a job. The job an Idempotency-Key already names is answered first, before
   * anything is checked again. A queue that cannot take work is refused before a row is written, so
   * an outage leaves nothing for a retry to duplicate in the common case.
   */
  private async submit(
    idempotency: Idempotency | undefined,
    describe: () => Promise<JobSpec>,
  ): Promise<JobRequestOutcome> {
    const earlier = idempotency && (await this.jobs.findByIdempotencyKey(idempotency.key));
    if (idempotency && earlier) return this.replay(earlier, idempotency);
    const spec = await describe();
    await this.queue.ping();
    return this.createOrJoin(spec, idempotency);
  }

  /**
   * Inserts the job, or joins the one the unique indexes say exists: the job of the same
   * Idempotency-Key, or the active job of the same dedup key. A job that finished between the
   * refused insert and the read is no longer joined; the insert is tried again. If the enqueue after
   * the insert fails (503), the row stays: a retry joins it and enqueues it, and the reaper offers
   * it again meanwhile.
   */
  private async createOrJoin(spec: JobSpec, idempotency?: Idempotency): Promise<JobRequestOutcome> {
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const job = await this.insert(spec, idempotency);
      if (job) {
        await this.queue.enqueue(job.id);
        return { job, message: spec.created };
      }
      const earlier = idempotency && (await this.jobs.findByIdempotencyKey(idempotency.key));
      if (idempotency && earlier) return this.replay(earlier, idempotency);
      const active = spec.dedup && (await this.jobs.findActive(spec.dedup.key));
      if (spec.dedup && active) return this.join(active, spec.dedup.joined);
    }
    throw new Error(`No ${spec.type} job created or joined in ${CREATE_ATTEMPTS} attempts`);
  }

  private async replay(job: JobRow, idempotency: Idempotency): Promise<JobRequestOutcome> {
    if (job.requestFingerprint !== idempotency.fingerprint) {
      throw new Conflict(
        'IDEMPOTENCY_KEY_REUSED',
        'Idempotency-Key was already used for a different request; use a new key for a new request',
      );
    }
    return this.join(job, `Joined the ${job.type} job created earlier with this Idempotency-Key`);
  }

  /** A pending job may have no queue entry (its enqueue failed); enqueuing a queued id again is a no-op. */
  private async join(job: JobRow, message: string): Promise<JobRequestOutcome> {
    if (job.status === 'pending') await this.queue.enqueue(job.id);
    return { job, message };
  }

  /** The row and its `job.created` event in one transaction; neither when the insert is refused. */
  private async insert(spec: JobSpec, idempotency: Idempotency | undefined): Promise<JobRow | undefined> {
    const { type, payload } = spec;
    return this.events.commit(
      (trx) =>
        this.jobs.in(trx).insert({
          id: newId(),
          type,
          payload: toJson(payload),
          createdAt: nowIso(),
          dedupKey: spec.dedup?.key ?? null,
          idempotencyKey: idempotency?.key ?? null,
          requestFingerprint: idempotency?.fingerprint ?? null,
          retryOf: spec.retryOf ?? null,
          ...(spec.progress ? { progress: toJson(spec.progress) } : {}),
        }),
      (job) =>
        job
          ? [
              {
                type: 'job.created',
                job_id: job.id,
                model_id: 'model_id' in payload ? payload.model_id : null,
                data: { type, status: 'pending', ...(spec.retryOf ? { retry_of: spec.retryOf } : {}) },
              },
            ]
          : [],
    );
  }

  async getJob(id: string): Promise<JobDetailView> {
    const job = await this.findJob(id);
    const logs = await this.logPage(job, 0, LOG_HEAD_LINES + LOG_TAIL_LINES + 1);
    return { ...toView(job), logs: logs.items };
  }

  /** A job's log a page at a time; the cursor is the number of the last line a page held. */
  async getJobLogs(id: string, query: { cursor?: string; limit: number }): Promise<JobLogPage> {
    const job = await this.findJob(id);
    const after = query.cursor === undefined ? 0 : decodeCursor(query.cursor, ['integer'])[0];
    return this.logPage(job, after, query.limit);
  }

  private async findJob(id: string): Promise<JobRow> {
    const job = await this.jobs.findById(id);
    if (!job) throw new NotFound('JOB_NOT_FOUND', `Job ${id} not found`);
    return job;
  }

  /**
   * Kept lines numbered above `after`. The marker of dropped lines takes the number of the first
   * dropped line, so it sorts at the cut and a cursor can stop right after it; it carries the time
   * of the first line kept after the cut.
   */
  private async logPage(job: JobRow, after: number, limit: number): Promise<JobLogPage> {
    const droppedLines = Math.max(0, job.logLines - LOG_HEAD_LINES - LOG_TAIL_LINES);
    const rows: NumberedLogLine[] = await this.jobs.logLines(job, after, limit + 1);
    const markerSeq = LOG_HEAD_LINES + 1;
    if (droppedLines > 0 && after < markerSeq) {
      const index = rows.findIndex((row) => row.seq > markerSeq);
      const at = rows[index]?.at ?? job.updatedAt;
      const message = `… ${droppedLines.toLocaleString('en-US')} lines dropped …`;
      rows.splice(index === -1 ? rows.length : index, 0, { seq: markerSeq, at, message });
    }
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(({ at, message }) => ({ at, message })),
      nextCursor: rows.length > limit && last ? encodeCursor([last.seq]) : null,
      droppedLines,
    };
  }

  async listJobs(query: {
    status?: JobStatus;
    type?: JobType;
    limit: number;
    cursor?: string;
  }): Promise<{ items: JobView[]; nextCursor: string | null }> {
    const before =
      query.cursor === undefined ? undefined : toPosition(decodeCursor(query.cursor, ['string', 'string']));
    const rows = await this.jobs.list({
      limit: query.limit + 1,
      ...(query.status ? { status: query.status } : {}),
      ...(query.type ? { type: query.type } : {}),
      ...(before ? { before } : {}),
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(toView),
      nextCursor: rows.length > query.limit && last ? encodeCursor([last.createdAt, last.id]) : null,
    };
  }
}

/** Two syncs of one repo would race on the same rows: one active sync per model. */
function syncSpec(model: ModelRepoRow): JobSpec {
  const payload: SyncPayload = { model_id: model.id, repo_id: model.repoId };
  return {
    type: 'sync',
    payload,
    created: 'Sync job queued',
    dedup: { key: `sync:${model.id}`, joined: 'Joined the sync job already queued' },
  };
}

/** The same set of artifacts, in any order, joins the active download of that set (a client's retry). */
function downloadSpec(artifacts: readonly Pick<ArtifactRow, 'id' | 'size'>[]): JobSpec {
  const artifactIds = artifacts.map((a) => a.id);
  const payload: DownloadPayload = { artifact_ids: artifactIds };
  const set = createHash('sha256')
    .update([...artifactIds].sort().join('\n'))
    .digest('hex');
  return {
    type: 'download',
    payload,
    created: `Download job queued for ${artifactIds.length} artifact(s)`,
    // Its totals are known before it starts, so a watcher's first frame already has them.
    progress: emptyProgress(
      artifacts.length,
      artifacts.reduce((sum, a) => sum + a.size, 0),
    ),
    dedup: {
      key: `download:${set}`,
      joined: `Joined the download job already queued for ${artifactIds.length} artifact(s)`,
    },
  };
}

/** An identical active scan (same depth, same repo or the whole store) is joined. */
function scanSpec(payload: ScanPayload): JobSpec {
  const kind = payload.deep ? 'deep scan' : 'scan';
  const what = `${kind}${payload.repo_id ? ` of ${payload.repo_id}` : ''}`;
  return {
    type: 'scan',
    payload,
    created: `${what.charAt(0).toUpperCase()}${what.slice(1)} queued`,
    dedup: {
      key: `scan:${payload.deep ? 'deep' : 'plain'}:${payload.model_id ?? '*'}`,
      joined: `Joined the ${what} already queued`,
    },
  };
}

function gcSpec(options: { dryRun: boolean; graceMs?: number; onlySha256?: string[] }): JobSpec {
  const payload: GcPayload = {
    dry_run: options.dryRun,
    ...(options.graceMs === undefined ? {} : { grace_ms: options.graceMs }),
    ...(options.onlySha256 === undefined ? {} : { only_sha256: options.onlySha256 }),
  };
  return {
    type: 'gc',
    payload,
    created: options.dryRun ? 'Garbage collection (dry run) queued' : 'Garbage collection queued',
  };
}

function selectPaths(
  paths: string[],
  include: string[] | undefined,
  exclude: string[] | undefined,
): Set<string> {
  const included = include?.length ? pathMatcher(include) : () => true;
  const excluded = exclude?.length ? pathMatcher(exclude) : () => false;
  return new Set(paths.filter((p) => included(p) && !excluded(p)));
}

function toView(job: JobListRow): JobView {
  const payload = fromJson(job.payload);
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    payload,
    result: fromJson(job.result),
    error: job.error,
    progress: fromJson<ProgressSnapshot>(job.progress) ?? pendingProgress(job.type, payload),
    attempts: job.attempts,
    worker: job.status === 'running' ? job.leaseOwner : null,
    retryOf: job.retryOf,
    cancelRequestedAt: job.cancelRequestedAt,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

/** Before a job first reports, a download already knows how many files it has (its parsed payload). */
function pendingProgress(type: JobType, payload: unknown): ProgressSnapshot {
  if (type !== 'download') return emptyProgress();
  return emptyProgress((payload as DownloadPayload | null)?.artifact_ids.length ?? 0);
}

function toPosition([createdAt, id]: readonly [string, string]): { createdAt: string; id: string } {
  return { createdAt, id };
}
