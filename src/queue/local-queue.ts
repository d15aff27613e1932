import type { JobHandler, JobQueue } from './job-queue.js';

/** In-process FIFO with bounded concurrency. Ids queued before `start` wait for it. */
export class LocalQueue implements JobQueue {
  private readonly waiting: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private handler: JobHandler | undefined;
  private stopped = false;

  constructor(
    private readonly concurrency: number,
    private readonly onError: (error: unknown, jobId: string) => void = () => {},
  ) {}

  async enqueue(jobId: string): Promise<void> {
    if (this.stopped || this.queued.has(jobId)) return;
    this.queued.add(jobId);
    this.waiting.push(jobId);
    this.pump();
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
          this.pump();
        });
      this.running.add(run);
    }
  }
}
