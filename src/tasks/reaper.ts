import type { Logger } from 'pino';
import { nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { EventsRepository } from '../db/events.repo.js';
import type { JobsRepository, ReclaimedJob } from '../db/jobs.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { EventLog } from '../events/event-log.js';
import { jobCancelledEvent } from '../events/hub-event.js';
import type { JobQueue } from '../queue/job-queue.js';
import { takenBackLine, takeoverEvent } from './takeover.js';

export interface ReaperDeps {
  jobs: JobsRepository;
  artifacts: ArtifactsRepository;
  leases: LeasesRepository;
  events: EventsRepository;
  /** Where a takeover is announced (a transient `job.progress` with `takeover`). */
  eventLog: EventLog;
  queue: JobQueue;
  leaseMs: number;
  /** Stored events older than this are dropped (ms). */
  eventsRetentionMs: number;
  logger: Logger;
}

/** Pending jobs re-offered per sweep in case their queue entry was lost (the queue ignores known entries). */
const STALE_PENDING_BATCH = 500;
/**
 * Sweeps run every half lease, but at least this often: a dead worker's job is runnable again at
 * most a lease (its last renewal lapsing) plus one sweep after the worker died.
 */
const MAX_SWEEP_INTERVAL_MS = 5000;

/**
 * Returns the work of dead workers: running jobs whose lease lapsed go back to pending, with a line
 * in their log and a `job.progress` event naming the worker, and into the queue as their next
 * attempt (a new entry, so a live worker runs it at once); `downloading` artifacts without a live
 * content lock go back to pending; events past their retention are dropped. A job whose cancel was
 * asked for and that no live worker holds ends `cancelled` (with its `job.cancelled` event) instead
 * of being taken back. Every process runs one (each reclaim happens once), so no job stays `running`
 * forever even with no worker left.
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ReaperDeps) {}

  start(): void {
    this.timer ??= setInterval(
      () => {
        this.sweeping = this.sweep().catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'reaper sweep failed; retrying at the next one'),
        );
      },
      Math.max(100, Math.min(MAX_SWEEP_INTERVAL_MS, Math.floor(this.deps.leaseMs / 2))),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  async sweep(): Promise<{ reclaimed: string[]; reoffered: number }> {
    const { jobs, artifacts, leases, queue, leaseMs, logger } = this.deps;
    const at = nowIso();
    await this.endCancelled(at);
    const reclaimed = await jobs.reapExpired(at);
    if (reclaimed.length > 0)
      logger.warn({ jobs: reclaimed }, 'reclaimed jobs whose worker stopped heartbeating');
    // Announced before they are offered, so the log and the stream say so before the next attempt does.
    for (const job of reclaimed) await this.announce(job);
    for (const job of reclaimed) await queue.enqueue(job.id, job.attempts);
    await artifacts.resetOrphanedDownloads(at);
    await leases.deleteExpired(at);
    await this.deps.events.deleteOlderThan(new Date(Date.now() - this.deps.eventsRetentionMs).toISOString());
    const stale = await jobs.listStalePending(
      new Date(Date.now() - 2 * leaseMs).toISOString(),
      STALE_PENDING_BATCH,
    );
    // A job reclaimed just now was touched now: it is not among them.
    for (const job of stale) await queue.enqueue(job.id, job.attempts);
    return { reclaimed: reclaimed.map((job) => job.id), reoffered: stale.length };
  }

  /**
   * Ends the jobs whose cancel was asked for and that no live worker holds (see
   * `JobsRepository.endCancelRequested`), each with its stored `job.cancelled` event; returns their ids.
   */
  async endCancelled(at = nowIso()): Promise<string[]> {
    const { jobs, eventLog, logger } = this.deps;
    const ended = await eventLog.commit(
      (trx) => jobs.in(trx).endCancelRequested(at),
      (rows) => rows.map((job) => jobCancelledEvent(job, 'reaper')),
    );
    if (ended.length > 0)
      logger.info({ jobs: ended.map((job) => job.id) }, 'ended cancelled jobs no live worker held');
    return ended.map((job) => job.id);
  }

  private async announce(job: ReclaimedJob): Promise<void> {
    const { jobs, eventLog, logger } = this.deps;
    try {
      await jobs.appendLog(job.id, takenBackLine(job.previousOwner, job.leaseExpiredAt), nowIso());
      const row = await jobs.findById(job.id);
      if (row && job.previousOwner)
        eventLog.publishTransient(takeoverEvent(row, 'pending', { from: job.previousOwner, to: null }));
    } catch (error) {
      logger.warn({ err: error, jobId: job.id }, 'could not announce a job taken back');
    }
  }
}
