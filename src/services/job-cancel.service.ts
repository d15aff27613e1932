import { setTimeout as sleep } from 'node:timers/promises';
import { nowIso } from '../clock.js';
import type { JobsRepository } from '../db/jobs.repo.js';
import type { JobRow } from '../db/schema.js';
import { Conflict, NotFound } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { EventLog } from '../events/event-log.js';
import { cancelRequestedSignal, isTerminalJobEvent, jobCancelledEvent } from '../events/hub-event.js';
import type { JobQueue } from '../queue/job-queue.js';

/** How long a cancel of a running job waits for its worker to confirm before answering (ms). */
export const CANCEL_WAIT_MS = 5000;
/** How often the row is read meanwhile, in case the terminal event is missed (ms). */
const CANCEL_POLL_MS = 200;

/**
 * Cancelling a job. A pending job ends `cancelled` at once and leaves the queue. A running one is
 * marked (`cancel_requested_at`) and its worker, in this process or another, is told over the event
 * bus; the worker stops the handler, keeps its partial files and ends the job `cancelled` (the
 * heartbeat catches a lost signal). While no live worker holds it (its worker died) the job is ended
 * here, or by the reaper. Every way ends with the same stored `job.cancelled` event.
 */
export class JobCancelService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly queue: JobQueue,
    private readonly events: EventLog,
    private readonly bus: EventBus,
    private readonly waitMs = CANCEL_WAIT_MS,
  ) {}

  /**
   * Cancels the job; returns its row, `cancelled` unless its worker did not confirm within the wait
   * (then still `running`, with `cancelRequestedAt` set). A cancelled job is answered as is; a
   * completed or failed one, even one that ended while the cancel waited, is a 409.
   */
  async cancelJob(id: string): Promise<JobRow> {
    for (;;) {
      const job = await this.jobs.findById(id);
      if (!job) throw new NotFound('JOB_NOT_FOUND', `Job ${id} not found`);
      switch (job.status) {
        case 'cancelled':
          return job;
        case 'completed':
        case 'failed':
          throw notCancellable(job);
        case 'pending': {
          const cancelled = await this.cancelPending(job);
          if (cancelled) return cancelled;
          continue; // claimed meanwhile: cancel it running
        }
        case 'running': {
          const marked = await this.jobs.requestCancel(id, nowIso());
          if (!marked) continue; // ended or handed back meanwhile
          return this.awaitEnd(marked);
        }
      }
    }
  }

  private async cancelPending(job: JobRow): Promise<JobRow | undefined> {
    const at = nowIso();
    const cancelled = await this.events.commit(
      (trx) => this.jobs.in(trx).cancelPending(job.id, at),
      (row) => (row ? [jobCancelledEvent(row, 'request')] : []),
    );
    // The row decides (a claim refuses a cancelled job): a queue that cannot drop the entry now is no failure.
    if (cancelled) await this.queue.remove(job.id, job.attempts).catch(() => undefined);
    return cancelled;
  }

  /**
   * Tells the worker, then waits for the job's terminal event or row, up to the wait. A job whose
   * lease lapsed (no live worker holds it) is ended here rather than left to the reaper's next sweep.
   */
  private async awaitEnd(job: JobRow): Promise<JobRow> {
    let wake: (() => void) | undefined;
    const unsubscribe = this.bus.subscribe((event) => {
      if (event.job_id === job.id && isTerminalJobEvent(event)) wake?.();
    });
    try {
      this.events.publishTransient(cancelRequestedSignal(job.id));
      const deadline = Date.now() + this.waitMs;
      for (;;) {
        const row = await this.jobs.findById(job.id);
        if (!row) throw new NotFound('JOB_NOT_FOUND', `Job ${job.id} not found`);
        if (row.status === 'cancelled') return row;
        if (row.status === 'completed' || row.status === 'failed') throw notCancellable(row, true);
        const ended = await this.endIfAbandoned(row);
        if (ended) return ended;
        const left = deadline - Date.now();
        if (left <= 0) return row;
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        await Promise.race([woken, sleep(Math.min(CANCEL_POLL_MS, left))]);
      }
    } finally {
      unsubscribe();
    }
  }

  private async endIfAbandoned(row: JobRow): Promise<JobRow | undefined> {
    const at = nowIso();
    const lapsed = row.status === 'pending' || row.leaseExpiresAt === null || row.leaseExpiresAt < at;
    if (!lapsed) return undefined;
    const ended = await this.events.commit(
      (trx) => this.jobs.in(trx).endCancelRequested(at, row.id),
      (rows) => rows.map((job) => jobCancelledEvent(job, 'reaper')),
    );
    return ended.length > 0 ? this.jobs.findById(row.id) : undefined;
  }
}

function notCancellable(job: JobRow, whileWaiting = false): Conflict {
  const when = whileWaiting ? ' before it could be cancelled' : '';
  return new Conflict(
    'JOB_NOT_CANCELLABLE',
    `Job ${job.id} ${job.status === 'completed' ? 'completed' : 'failed'}${when}; only a pending or running job can be cancelled (a failed one can be retried)`,
  );
}
