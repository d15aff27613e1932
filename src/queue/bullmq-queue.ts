import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobHandler, JobQueue } from './job-queue.js';
import { QueueDisconnected } from './outage.js';

export interface BullQueueOptions {
  /** Shared by the producer; BullMQ duplicates it for the worker's blocking connection. */
  connection: Redis;
  prefix: string;
  concurrency: number;
  /** BullMQ's job lock: a job whose worker stops renewing it for this long is redelivered (ms). */
  lockMs: number;
  onError: (error: unknown, jobId: string | undefined) => void;
}

const QUEUE_NAME = 'jobs';
const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * BullMQ adapter: a queue entry is named after the job's row id, so re-enqueuing a job that is
 * still queued or running is a no-op. BullMQ retries a handler that threw (a database or Redis
 * outage) with backoff and redelivers jobs whose worker died (stalled-job detection); the jobs
 * table still decides who runs what, through its leases.
 */
export class BullQueue implements JobQueue {
  private readonly queue: Queue;
  private worker: Worker | undefined;

  constructor(private readonly options: BullQueueOptions) {
    this.queue = new Queue(QUEUE_NAME, {
      connection: options.connection,
      prefix: options.prefix,
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
    this.queue.on('error', (error) => options.onError(error, undefined));
  }

  /**
   * Refuses at once while Redis is disconnected, and gives up after ENQUEUE_TIMEOUT_MS: the
   * connection queues commands until Redis is back, and a request must not wait that long. The job
   * row is already written; the reaper offers it again once the queue is back.
   */
  async enqueue(jobId: string): Promise<void> {
    const redis = this.options.connection;
    if (redis.status !== 'ready') throw new QueueDisconnected(`Redis connection is ${redis.status}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueDisconnected(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`)),
        ENQUEUE_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.queue.add(QUEUE_NAME, {}, { jobId }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  start(handler: JobHandler): void {
    if (this.worker) return;
    this.worker = new Worker(
      QUEUE_NAME,
      async (job) => {
        if (job.id) await handler(job.id);
      },
      {
        connection: this.options.connection,
        prefix: this.options.prefix,
        concurrency: this.options.concurrency,
        lockDuration: this.options.lockMs,
        stalledInterval: this.options.lockMs,
        // The jobs table decides whether a redelivered job still needs running; never give up on it here.
        maxStalledCount: 1000,
      },
    );
    this.worker.on('failed', (job, error) => this.options.onError(error, job?.id));
    this.worker.on('error', (error) => this.options.onError(error, undefined));
  }

  async stop(): Promise<void> {
    await this.worker?.pause();
  }

  /** Fails fast while Redis is disconnected, instead of queueing a PING until it is back. */
  async ping(): Promise<void> {
    const redis = this.options.connection;
    if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
    await redis.ping();
  }

  /** Running entries a forced close leaves behind are redelivered once their lock lapses. */
  async close(): Promise<void> {
    await this.worker?.close(true);
    await this.queue.close();
  }
}
