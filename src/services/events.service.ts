import type { EventsRepository } from '../db/events.repo.js';
import type { JobsRepository } from '../db/jobs.repo.js';
import { fromJson } from '../db/json.js';
import type { EventRow, JobRow } from '../db/schema.js';
import { NotFound } from '../errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { HubEvent } from '../events/hub-event.js';
import { emptyProgress, type ProgressSnapshot, type Takeover } from '../events/job-progress.js';

export interface StreamRequest {
  /** Only this job's events; the stream then starts with every event the job has had. */
  jobId?: string;
  /** Resume after this event id (SSE `Last-Event-ID`). */
  afterSeq?: number;
}

const REPLAY_PAGE = 500;

export class EventsService {
  constructor(
    private readonly events: EventsRepository,
    private readonly jobs: JobsRepository,
    private readonly bus: EventBus,
  ) {}

  /**
   * Feeds `deliver` the stored events the client has not seen (after `afterSeq`; a job stream from
   * the job's first event), then a progress snapshot of a running job (with the takeover it runs
   * after, if any), then live events, in order and without duplicates: live events are buffered
   * while the replay reads the database, and a live copy of a replayed event is dropped by id. Ids
   * are not compared by order: events of concurrent transactions and of several workers may commit
   * and arrive out of id order. Returns the function that ends the subscription.
   */
  async open(request: StreamRequest, deliver: (event: HubEvent) => void): Promise<() => void> {
    const { jobId } = request;
    if (jobId !== undefined && !(await this.jobs.findById(jobId))) {
      throw new NotFound('JOB_NOT_FOUND', `Job ${jobId} not found`);
    }
    const buffered: HubEvent[] = [];
    const replayed = new Set<number>();
    const isNew = (event: HubEvent) => event.id === null || !replayed.has(event.id);
    let live = false;
    let replayedUpTo = request.afterSeq ?? 0;
    const unsubscribe = this.bus.subscribe((event) => {
      // Internal signals: the mirror's, and the cancel request to workers.
      if (event.type === 'artifact.progress' || event.type === 'job.cancel_requested') return;
      if (jobId !== undefined && event.job_id !== jobId) return;
      if (!live) buffered.push(event);
      else if (isNew(event)) deliver(event);
    });
    try {
      if (jobId !== undefined || request.afterSeq !== undefined) {
        for (;;) {
          const page = await this.events.listAfter(replayedUpTo, {
            limit: REPLAY_PAGE,
            ...(jobId === undefined ? {} : { jobId }),
          });
          for (const row of page) {
            replayed.add(row.seq);
            deliver(toHubEvent(row));
          }
          replayedUpTo = page.at(-1)?.seq ?? replayedUpTo;
          if (page.length < REPLAY_PAGE) break;
        }
      }
      if (jobId !== undefined) {
        const job = await this.jobs.findById(jobId);
        const snapshot = job?.status === 'running' ? runningSnapshot(job) : undefined;
        if (job && snapshot) {
          deliver({
            id: null,
            type: 'job.progress',
            at: job.updatedAt,
            job_id: jobId,
            model_id: null,
            artifact_id: null,
            data: { status: job.status, ...snapshot },
          });
        }
      }
      live = true;
      for (const event of buffered) {
        if (isNew(event)) deliver(event);
      }
      buffered.length = 0;
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }
}

/**
 * What a subscriber that opens a running job's stream needs beyond its stored events: the last
 * progress, and the takeover the job is running after (its live announcement is not stored, so a
 * watcher that arrives later would never learn of it).
 */
function runningSnapshot(job: JobRow): (ProgressSnapshot & { takeover?: Takeover }) | undefined {
  const progress = fromJson<ProgressSnapshot>(job.progress);
  if (!job.takenOverFrom) return progress ?? undefined;
  return { ...(progress ?? emptyProgress()), takeover: { from: job.takenOverFrom, to: job.leaseOwner } };
}

function toHubEvent(row: EventRow): HubEvent {
  return {
    id: row.seq,
    type: row.type,
    at: row.at,
    job_id: row.jobId,
    model_id: row.modelId,
    artifact_id: row.artifactId,
    data: fromJson<Record<string, unknown>>(row.data) ?? {},
  };
}
