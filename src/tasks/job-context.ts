import { AsyncLocalStorage } from 'node:async_hooks';
import type { UpstreamRetry } from '../upstream/retry.js';

/**
 * The job a piece of work is done for, carried by the async context the job runner opens around a
 * handler. Code far below a handler (the hub client's retries, wired in app.ts) tells the job
 * through it without every call in between passing a job along; outside a job there is none.
 */
export interface JobContext {
  /** Writes the retry in the job's log and publishes it on a `job.progress` event. */
  reportRetry(retry: UpstreamRetry): Promise<void>;
}

const current = new AsyncLocalStorage<JobContext>();

export function runInJobContext<T>(context: JobContext, run: () => Promise<T>): Promise<T> {
  return current.run(context, run);
}

/** Tells the current job of an upstream retry; undefined (nothing done) outside a job. */
export function reportUpstreamRetry(retry: UpstreamRetry): Promise<void> | undefined {
  return current.getStore()?.reportRetry(retry);
}
