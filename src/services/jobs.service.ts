import picomatch from 'picomatch';
import { newId, nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import {
  type JobLogLine,
  type JobsRepository,
  LOG_HEAD_LINES,
  LOG_TAIL_LINES,
  type NumberedLogLine,
} from '../db/jobs.repo.js';
import { fromJson, toJson } from '../db/json.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { JobRow, JobStatus, JobType, ModelRepoRow } from '../db/schema.js';
import { Invalid, NotFound } from '../errors.js';
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

export class JobsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly queue: JobQueue,
    private readonly events: EventLog,
    private readonly importRoots: ImportRoots,
  ) {}

  async requestSync(repoId: string): Promise<JobRequestOutcome> {
    const model = await this.models.findByRepoId(repoId);
    if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${repoId} is not registered`);
    return this.requestSyncFor(model);
  }

  async requestSyncFor(model: ModelRepoRow): Promise<JobRequestOutcome> {
    const payload: SyncPayload = { model_id: model.id, repo_id: model.repoId };
    // Two syncs of one repo would race on the same rows; a second request joins the first.
    const active = await this.jobs.findActive('sync', toJson(payload));
    if (active) return { job: active, message: 'Sync job already queued' };
    const job = await this.enqueue('sync', payload);
    return { job, message: 'Sync job queued' };
  }

  async requestDownload(artifactIds: string[]): Promise<JobRequestOutcome> {
    const unique = [...new Set(artifactIds)];
    const found = new Set((await this.artifacts.findByIds(unique)).map((a) => a.id));
    const missing = unique.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new NotFound('ARTIFACT_NOT_FOUND', `Unknown artifact id(s): ${missing.join(', ')}`);
    }
    return this.enqueueDownload(unique);
  }

  /** Every current file of a registered repo, or those matching `include` and not `exclude` (globs). */
  async requestRepoDownload(
    repoId: string,
    include?: string[],
    exclude?: string[],
  ): Promise<JobRequestOutcome> {
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
    const ids = artifacts.filter((a) => wanted.has(a.path)).map((a) => a.id);
    if (ids.length === 0) {
      throw new Invalid('VALIDATION_FAILED', `No file of ${repoId} matches include/exclude`);
    }
    return this.enqueueDownload(ids);
  }

  /** A scan of the whole store, or of one registered repo's artifacts; an identical queued scan is joined. */
  async requestScan(options: { deep: boolean; repoId?: string }): Promise<JobRequestOutcome> {
    let payload: ScanPayload = { deep: options.deep };
    if (options.repoId !== undefined) {
      const model = await this.models.findByRepoId(options.repoId);
      if (!model) throw new NotFound('REPO_NOT_FOUND', `Repository ${options.repoId} is not registered`);
      payload = { ...payload, model_id: model.id, repo_id: model.repoId };
    }
    const what = `${options.deep ? 'Deep scan' : 'Scan'}${payload.repo_id ? ` of ${payload.repo_id}` : ''}`;
    const active = await this.jobs.findActive('scan', toJson(payload));
    if (active) return { job: active, message: `${what} already queued` };
    const job = await this.enqueue('scan', payload);
    return { job, message: `${what} queued` };
  }

  async requestGc(options: {
    dryRun: boolean;
    graceMs?: number;
    onlySha256?: string[];
  }): Promise<JobRequestOutcome> {
    const payload: GcPayload = {
      dry_run: options.dryRun,
      ...(options.graceMs === undefined ? {} : { grace_ms: options.graceMs }),
      ...(options.onlySha256 === undefined ? {} : { only_sha256: options.onlySha256 }),
    };
    const job = await this.enqueue('gc', payload);
    return {
      job,
      message: options.dryRun ? 'Garbage collection (dry run) queued' : 'Garbage collection queued',
    };
  }

  /**
   * Files already on the hub's machine (a Hugging Face cache, or a plain folder for `repoId`); the
   * path must lie inside IMPORT_ROOTS (else 403, no job), and is checked now so a mistake is an
   * answer, not a failed job.
   */
  async requestImport(dir: string, repoId?: string): Promise<JobRequestOutcome> {
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
    const payload: ImportPayload = { path: dir, ...(repoId === undefined ? {} : { repo_id: repoId }) };
    const job = await this.enqueue('import', payload);
    return {
      job,
      message: `Import job queued for ${source.kind === 'folder' ? `a folder of ${repoId}` : 'a Hugging Face cache'}`,
    };
  }

  private async enqueueDownload(artifactIds: string[]): Promise<JobRequestOutcome> {
    const payload: DownloadPayload = { artifact_ids: artifactIds };
    const job = await this.enqueue('download', payload);
    return { job, message: `Download job queued for ${artifactIds.length} artifact(s)` };
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

  private async enqueue(
    type: JobType,
    payload: SyncPayload | DownloadPayload | GcPayload | ImportPayload | ScanPayload,
  ): Promise<JobRow> {
    const id = newId();
    const job = await this.events.commit(
      (trx) => this.jobs.in(trx).insert({ id, type, payload: toJson(payload), createdAt: nowIso() }),
      [
        {
          type: 'job.created',
          job_id: id,
          model_id: 'model_id' in payload ? payload.model_id : null,
          data: { type, status: 'pending' },
        },
      ],
    );
    await this.queue.enqueue(job.id);
    return job;
  }
}

function selectPaths(
  paths: string[],
  include: string[] | undefined,
  exclude: string[] | undefined,
): Set<string> {
  const options = { dot: true };
  const included = include?.length ? picomatch(include, options) : () => true;
  const excluded = exclude?.length ? picomatch(exclude, options) : () => false;
  return new Set(paths.filter((p) => included(p) && !excluded(p)));
}

function toView(job: JobRow): JobView {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    payload: fromJson(job.payload),
    result: fromJson(job.result),
    error: job.error,
    progress: fromJson<ProgressSnapshot>(job.progress) ?? pendingProgress(job),
    attempts: job.attempts,
    worker: job.status === 'running' ? job.leaseOwner : null,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}

/** Before a job first reports, a download already knows how many files it has. */
function pendingProgress(job: JobRow): ProgressSnapshot {
  if (job.type !== 'download') return emptyProgress();
  const payload = fromJson<DownloadPayload>(job.payload);
  return emptyProgress(payload?.artifact_ids.length ?? 0);
}

function toPosition([createdAt, id]: readonly [string, string]): { createdAt: string; id: string } {
  return { createdAt, id };
}
