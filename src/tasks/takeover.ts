import { fromJson } from '../db/json.js';
import type { NewEvent } from '../events/hub-event.js';
import {
  emptyProgress,
  type ProgressEventData,
  type ProgressSnapshot,
  type Takeover,
} from '../events/job-progress.js';

/**
 * How a takeover shows from outside: a line in the job's log, and a transient `job.progress` event
 * with a `takeover`, once when the reaper takes the job back (status pending, `to` null) and once
 * when another worker claims it (running). The event carries the job's last stored progress, so a
 * watcher's counters stay where the dead worker left them.
 */
export function takenBackLine(from: string | null, leaseExpiredAt: string | null): string {
  const lapsed = leaseExpiredAt ? `its lease lapsed at ${leaseExpiredAt}` : 'it held no lease';
  return `Taken back from worker ${from ?? '(unknown)'}: ${lapsed}`;
}

export function attemptLine(attempts: number, worker: string, takenOverFrom: string | null): string {
  const from = takenOverFrom ? ` (taken over from ${takenOverFrom})` : '';
  return `Attempt ${attempts}, on worker ${worker}${from}`;
}

export function takeoverEvent(
  job: { id: string; progress: string | null },
  status: ProgressEventData['status'],
  takeover: Takeover,
): NewEvent {
  const progress = fromJson<ProgressSnapshot>(job.progress) ?? emptyProgress();
  return {
    type: 'job.progress',
    job_id: job.id,
    data: { ...progress, status, takeover } satisfies ProgressEventData,
  };
}
