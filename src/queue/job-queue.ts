/**
 * The queue only carries job ids; the jobs table is the source of truth for status, logs and
 * results. Adapters: `LocalQueue` (in-process, embedded mode) and `BullQueue` (BullMQ on Redis).
 */
export type JobHandler = (jobId: string) => Promise<void>;

export interface JobQueue {
  /**
   * Offers a job. `attempts` is how many times it was claimed before this offer (its row's
   * `attempts`, 0 for a new job): offers of the same attempt are one queue entry, and the next attempt
   * (a takeover after a worker died) is a new entry, runnable at once even while the broker still
   * counts the dead worker's entry as running. The jobs table's claim decides who runs it.
   */
  enqueue(jobId: string, attempts?: number): Promise<void>;
  /**
   * Drops the job's entry while it waits (its row was cancelled); an entry already running is left
   * to its handler, which the cancel stops through its lease. `attempts` as for `enqueue`. Best
   * effort: the jobs table's claim refuses a cancelled job anyway.
   */
  remove(jobId: string, attempts?: number): Promise<void>;
  /** Starts handing queued ids to `handler`, at most the adapter's concurrency at once. */
  start(handler: JobHandler): void;
  /** Stops taking new ids and waits for the running handlers to finish. */
  stop(): Promise<void>;
  /** Releases connections without waiting for handlers still running (after `stop` or its deadline). */
  close(): Promise<void>;
  /** Resolves when the queue can take work (Redis answers a PING); readiness checks it. */
  ping(): Promise<void>;
}
