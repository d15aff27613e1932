import type { JobHandler, JobQueue } from './job-queue.js';

/**
 * In-process FIFO with bounded concurrency. Ids queued before `start` wait for it. A job runs at most
 * once at a time here: the same attempt offered again is ignored, and a later attempt offered while
 * it waits or runs (the reaper took it back from a handler whose lease lapsed) is offered once more
 * when that handler ends, so the job's claim decides whether it still needs running.
 */
export class LocalQueue implements JobQueue {
  private readonly waiting: string[] = [];
  /** Jobs waiting or running, with the attempt they were offered as. */
  private readonly queued = new Map<string, number>();
  /** Jobs offered as a later attempt while waiting or running: offered again when their run ends. */
  private readonly offeredAgain = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private handler: JobHandler | undefined;
  private stopped = false;

  constructor(
    private readonly concurrency: number,
    private readonly onError: (error: unknown, jobId: string) => void = () => {},
  ) {}

  async enqueue(jobId: string, attempts = 0): Promise<void> {
    if (this.stopped) return;
    const offered = this.queued.get(jobId);
    if (offered !== undefined) {
      if (attempts > offered) this.offeredAgain.set(jobId, attempts);
      return;
    }
    this.queued.set(jobId, attempts);
    this.waiting.push(jobId);
    this.pump();
  }

  async remove(jobId: string): Promise<void> {
    const index = this.waiting.indexOf(jobId);
    if (index === -1) return;
    this.waiting.splice(index, 1);
    this.queued.delete(jobId);
    this.offeredAgain.delete(jobId);
  }

  start(handler: JobHandler): void {
    this.handler = handler;
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.length = 0;
    await Promise.allSettled([...this.running]);
  }

  async close(): Promise<void> {
    this.stopped = true;
  }

  /** Always ready: the queue lives in this process. */
  async ping(): Promise<void> {}

  /** Ids waiting plus running, for tests and metrics. */
  get size(): number {
    return this.waiting.length + this.running.size;
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (!this.stopped && this.running.size < this.concurrency && this.waiting.length > 0) {
      const jobId = this.waiting.shift() as string;
      const run: Promise<void> = handler(jobId)
        .catch((error: unknown) => this.onError(error, jobId))
        .finally(() => {
          this.running.delete(run);
          this.queued.delete(jobId);
          const again = this.offeredAgain.get(jobId);
          this.offeredAgain.delete(jobId);
          if (again !== undefined) void this.enqueue(jobId, again);
          this.pump();
        });
      this.running.add(run);
    }
  }
}
