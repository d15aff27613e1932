import type { Logger } from 'pino';
import { nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { JobClaim, JobsRepository } from '../db/jobs.repo.js';
import { toJson } from '../db/json.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import { databaseOutage } from '../db/outage.js';
import type { JobRow, JobType } from '../db/schema.js';
import { errorMessage } from '../errors.js';
import type { EventLog } from '../events/event-log.js';
import { jobCancelledEvent, type NewEvent } from '../events/hub-event.js';
import { JobProgress, type ProgressEventData } from '../events/job-progress.js';
import type { HubInstrumentation } from '../events/metrics.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ImportRoots } from '../store/import-roots.js';
import type { PartialDownloads } from '../store/partial-downloads.js';
import type { HubClient } from '../upstream/hf-client.js';
import { collectGarbage } from './collect-garbage.js';
import type { SingleFlight } from './download/single-flight.js';
import type { TransferSettings } from './download/transfer.js';
import { DownloadJobError, runDownloadJob } from './download-job.js';
import { importFiles } from './import-files.js';
import { type JobContext, runInJobContext } from './job-context.js';
import type { DownloadPayload, GcPayload, ImportPayload, ScanPayload, SyncPayload } from './job-payloads.js';
import { scanStore } from './scan-store.js';
import { enforceQuota } from './store-quota.js';
import { syncRepo } from './sync-repo.js';
import { attemptLine, takenBackLine, takeoverEvent } from './takeover.js';
import { cancelledBy, type HandlerLease, type WorkerLeases } from './worker-leases.js';

/** Jobs after which the store may be over its quota. */
const ADDS_CONTENT = new Set<JobType>(['sync', 'download', 'import']);

export interface JobRunnerDeps {
  jobs: JobsRepository;
  models: ModelsRepository;
  artifacts: ArtifactsRepository;
  store: BlobStore;
  partials: PartialDownloads;
  hub: HubClient;
  transfer: TransferSettings;
  inFlight: SingleFlight;
  /** This worker's job leases and content locks. */
  leases: WorkerLeases;
  metadataMaxBytes: number;
  fileConcurrency: number;
  /** IMPORT_ROOTS of this process: an import job reads only below them. */
  importRoots: ImportRoots;
  /** Lease rows, for scan and GC to see (and GC to take) content leases under their own holder. */
  leaseRows: LeasesRepository;
  /** Scan: stale temp files are older than this (ms). */
  scanTempMaxAgeMs: number;
  /** GC: orphans younger than this are kept when the job does not say (ms). */
  gcGraceMs: number;
  /** STORE_MAX_BYTES: enforced after each job that adds content; undefined: no quota. */
  storeMaxBytes: number | undefined;
  events: EventLog;
  metrics: HubInstrumentation;
  /** Progress is written and published at most this often per job (ms). */
  progressIntervalMs: number;
  logger: Logger;
}

/**
 * Runs one job by id: claims it under this worker's lease (a pending job, or one whose previous
 * worker died), registers its handler so the heartbeat renews the lease exactly while the handler
 * runs, dispatches on its type, and writes the final state (completed with a result, or failed with
 * the same message the artifacts carry) while it still holds the lease, retried through a database
 * outage. A handler whose lease was lost stops and writes nothing; one cut off by an outage leaves
 * the job to lapse back to pending, so a job is never left half-done. A handler stopped by a cancel
 * (its lease's signal, see worker-leases.ts) ends the job `cancelled`, its files back to pending and
 * their partial downloads kept for a retry.
 */
export function createJobRunner(deps: JobRunnerDeps): (jobId: string) => Promise<void> {
  return async (jobId) => {
    const { leases } = deps;
    const claim = await deps.jobs.claim(jobId, leases.owner, nowIso(), leases.leaseUntil());
    if (!claim) return;
    const job = await deps.jobs.findById(jobId);
    if (!job) return;
    const lease = leases.hold(jobId, job.attempts);
    // Asked for between the claim and the hold: the signal on the bus found no handler to stop.
    if (job.cancelRequestedAt !== null) lease.cancel();
    try {
      await runClaimed(deps, job, lease, claim);
    } finally {
      leases.end(lease);
    }
  };
}

async function runClaimed(
  deps: JobRunnerDeps,
  job: JobRow,
  lease: HandlerLease,
  claim: JobClaim,
): Promise<void> {
  const jobId = job.id;
  const logger = deps.logger.child({ jobId, jobType: job.type });
  // Lines of one job are numbered in order, so files finishing at once append one after another.
  let appended = Promise.resolve();
  const log = (message: string): Promise<void> => {
    const at = nowIso();
    appended = appended.then(() =>
      deps.jobs
        .appendLog(jobId, message, at)
        .catch((error: unknown) => logger.warn({ err: error }, 'could not append a job log line')),
    );
    return appended;
  };
  const progress = new JobProgress(async (snapshot) => {
    try {
      await deps.jobs.setProgress(jobId, toJson(snapshot));
      const at = nowIso();
      for (const file of snapshot.current_files) {
        await deps.artifacts.recordBytesDownloaded(file.artifact_id, file.bytes_done, at);
      }
      deps.events.publishTransient({
        type: 'job.progress',
        job_id: jobId,
        data: { status: 'running', ...snapshot },
      });
    } catch (error) {
      logger.warn({ err: error }, 'could not record job progress');
    }
  }, deps.progressIntervalMs);
  const taskDeps = {
    ...deps,
    contentLocks: lease,
    signal: lease.signal,
    retryOutage: lease.retryOutage,
    log,
    jobId,
    progress,
  };
  const modelId = job.type === 'sync' ? (JSON.parse(job.payload) as SyncPayload).model_id : null;
  /** The final state and its event, only while this claim still holds the job; false when it does not. */
  const finish = async (
    outcome: { status: 'completed' | 'failed' | 'cancelled'; result?: string; error?: string },
    event: NewEvent,
  ): Promise<boolean> => {
    const final = await progress.close();
    const written = await lease.retryOutage(`the final state of job ${jobId}`, () =>
      deps.events.commit(
        (trx) =>
          deps.jobs.in(trx).finish(jobId, { ...outcome, progress: toJson(final), at: nowIso() }, lease),
        (ok) => (ok ? [{ ...event, job_id: jobId, model_id: modelId }] : []),
      ),
    );
    if (!written) {
      logger.warn(
        { outcome: outcome.status },
        'job lease lost before its result was written; another worker has the job, this result is dropped',
      );
    }
    return written;
  };
  // Taken straight from a dead worker (its queue entry came back before a reaper sweep): announced
  // as the reaper announces it, so a takeover reads the same whichever got there first.
  if (claim.takenBack) {
    const { from, leaseExpiredAt } = claim.takenBack;
    await log(takenBackLine(from, leaseExpiredAt));
    if (from) deps.events.publishTransient(takeoverEvent(job, 'pending', { from, to: null }));
  }
  if (job.attempts > 1) await log(attemptLine(job.attempts, lease.owner, job.takenOverFrom));
  if (job.takenOverFrom)
    deps.events.publishTransient(takeoverEvent(job, 'running', { from: job.takenOverFrom, to: lease.owner }));
  // Upstream retries made while the handler runs show in its log and on its event stream at once.
  const context: JobContext = {
    reportRetry: (retry) => {
      const { message, attempt, maxRetries, delayMs } = retry;
      deps.events.publishTransient({
        type: 'job.progress',
        job_id: jobId,
        data: {
          ...progress.snapshot(),
          status: 'running',
          retry: { message, attempt, max_retries: maxRetries, delay_ms: delayMs },
        } satisfies ProgressEventData,
      });
      return log(message);
    },
  };
  logger.info('job started');
  const startedAt = performance.now();
  const seconds = () => (performance.now() - startedAt) / 1000;
  let result: unknown;
  try {
    const payload = JSON.parse(job.payload) as unknown;
    result = await runInJobContext(context, async () => {
      switch (job.type) {
        case 'sync':
          return syncRepo(taskDeps, payload as SyncPayload);
        case 'download':
          return runDownloadJob(taskDeps, payload as DownloadPayload);
        case 'import':
          return importFiles(taskDeps, payload as ImportPayload);
        case 'scan':
          return scanStore(taskDeps, payload as ScanPayload);
        case 'gc':
          return collectGarbage(taskDeps, payload as GcPayload);
        default:
          throw new Error(`Job type ${job.type} is not supported by this version`);
      }
    });
  } catch (error) {
    if (cancelledBy(lease.signal)) {
      if (await endCancelled(deps, job, finish, log))
        deps.metrics.jobFinished(job.type, 'cancelled', seconds());
      return;
    }
    if (lease.signal.aborted) {
      await progress.close();
      logger.warn('job lease lost: another worker runs this job now; this attempt stops, writing nothing');
      return;
    }
    const outage = databaseOutage(error);
    if (outage !== undefined) {
      await progress.close();
      logger.warn(
        { err: error },
        `job interrupted: the database is unavailable (${outage}); it goes back to pending when its lease lapses`,
      );
      return;
    }
    const message = errorMessage(error);
    await log(`Failed: ${message}`);
    const partial = error instanceof DownloadJobError ? error.result : null;
    const failed = await finish(
      { status: 'failed', error: message, ...(partial ? { result: toJson(partial) } : {}) },
      { type: 'job.failed', data: { type: job.type, error: message, result: partial } },
    );
    if (failed) {
      deps.metrics.jobFinished(job.type, 'failed', seconds());
      logger.warn({ error: message }, 'job failed');
    }
    return;
  }
  if (deps.storeMaxBytes !== undefined && ADDS_CONTENT.has(job.type)) {
    await enforceQuota({
      ...deps,
      storeMaxBytes: deps.storeMaxBytes,
      holder: `quota:${jobId}`,
      log,
    }).catch((error: unknown) => logger.warn({ err: error }, 'could not enforce the store quota'));
  }
  const completed = await finish(
    { status: 'completed', result: toJson(result) },
    { type: 'job.completed', data: { type: job.type, result } },
  );
  if (completed) {
    deps.metrics.jobFinished(job.type, 'completed', seconds());
    logger.info('job completed');
  }
}

/**
 * The end of a cancelled handler. Every transfer it started has stopped and released its content
 * lock by now (see settled-map.ts), so its `downloading` files go back to pending (those another
 * worker is downloading keep their live lock and their status), then the job ends `cancelled`.
 */
async function endCancelled(
  deps: JobRunnerDeps,
  job: JobRow,
  finish: (outcome: { status: 'cancelled' }, event: NewEvent) => Promise<boolean>,
  log: (message: string) => Promise<void>,
): Promise<boolean> {
  await log('Cancelled on request; partial downloads are kept for a retry to resume');
  await deps.artifacts.resetOrphanedDownloads(nowIso());
  const ended = await finish({ status: 'cancelled' }, jobCancelledEvent(job, 'worker'));
  if (ended) deps.logger.info({ jobId: job.id }, 'job cancelled');
  return ended;
}
