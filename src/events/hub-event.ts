import type { EventType } from '../db/schema.js';

export type { EventType };

/**
 * One event as every consumer sees it: the SSE `data:` of a stream, the body of a webhook POST.
 * `id` is the durable sequence number a client resumes from; null for transient `job.progress`.
 */
export interface HubEvent {
  id: number | null;
  type: EventType;
  at: string;
  job_id: string | null;
  model_id: string | null;
  artifact_id: string | null;
  data: Record<string, unknown>;
}

export type NewEvent = Pick<HubEvent, 'type' | 'data'> &
  Partial<Pick<HubEvent, 'job_id' | 'model_id' | 'artifact_id'>>;

/** Every type a client may subscribe to; `job.progress` is streamed live only, never stored. */
export const EVENT_TYPES: readonly EventType[] = [
  'job.created',
  'job.progress',
  'job.completed',
  'job.failed',
  'job.cancelled',
  'artifact.completed',
  'artifact.failed',
  'model.synced',
];

export const DURABLE_EVENT_TYPES: readonly EventType[] = EVENT_TYPES.filter((t) => t !== 'job.progress');

export function isTerminalJobEvent(event: HubEvent): boolean {
  return event.type === 'job.completed' || event.type === 'job.failed' || event.type === 'job.cancelled';
}

/**
 * The stored event of a job that ended `cancelled`: by its worker (`stopped_by: 'worker'`), at once
 * while it was pending (`'request'`), or by the reaper or the cancel request once no live worker
 * held it (`'reaper'`).
 */
export function jobCancelledEvent(
  job: { id: string; type: string; payload: string },
  stoppedBy: 'request' | 'worker' | 'reaper',
  result: unknown = null,
): NewEvent {
  const payload = JSON.parse(job.payload) as { model_id?: unknown };
  return {
    type: 'job.cancelled',
    job_id: job.id,
    model_id: typeof payload.model_id === 'string' ? payload.model_id : null,
    data: { type: job.type, stopped_by: stoppedBy, result },
  };
}

/** Transient, on the event bus only: asks whichever worker runs the job to stop it now. */
export function cancelRequestedSignal(jobId: string): NewEvent {
  return { type: 'job.cancel_requested', job_id: jobId, data: {} };
}
