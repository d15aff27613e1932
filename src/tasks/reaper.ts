import type { Logger } from 'pino';
import { nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { EventsRepository } from '../db/events.repo.js';
import type { JobsRepository } from '../db/jobs.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import type { JobQueue } from '../queue/job-queue.js';

export interface ReaperDeps {
  jobs: JobsRepository;
  artifacts: ArtifactsRepository;
  leases: LeasesRepository;
  events: EventsRepository;
  queue: JobQueue;
  leaseMs: number;
  /** Stored events older than this are dropped (ms). */
  eventsRetentionMs: number;
  logger: Logger;
}

/** Pending jobs re-offered per sweep in case their queue entry was lost (the queue ignores known ids). */
const STALE_PENDING_BATCH = 500;

/**
 * Returns the work of dead workers: running jobs whose lease lapsed go back to pending and into the
 * queue, `downloading` artifacts without a live content lock go back to pending; events past their
 * retention are dropped. Every process runs
 * one (the updates are idempotent), so no job stays `running` forever even with no worker left.
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
      Math.max(100, Math.floor(this.deps.leaseMs / 2)),
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
    const reclaimed = await jobs.reapExpired(at);
    await artifacts.resetOrphanedDownloads(at);
    await leases.deleteExpired(at);
    await this.deps.events.deleteOlderThan(new Date(Date.now() - this.deps.eventsRetentionMs).toISOString());
    const stale = await jobs.listStalePending(
      new Date(Date.now() - 2 * leaseMs).toISOString(),
      STALE_PENDING_BATCH,
    );
    if (reclaimed.length > 0)
      logger.warn({ jobs: reclaimed }, 'reclaimed jobs whose worker stopped heartbeating');
    for (const id of new Set([...reclaimed, ...stale])) await queue.enqueue(id);
    return { reclaimed, reoffered: stale.length };
  }
}
