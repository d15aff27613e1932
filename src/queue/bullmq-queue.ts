import { type Job, Queue, Worker } from 'bullmq';
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

interface EntryData {
  jobId: string;
}
const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * BullMQ adapter: a queue entry is named after the job's row id and attempt (`<id>.<attempts>`), so
 * offering the same attempt again while it is queued or running is a no-op, while a takeover (the
 * next attempt) is a new entry that runs at once. Under the job's own id only, it would wait until
 * BullMQ noticed the dead worker's entry had stalled (up to two lock periods) and redelivered it.
 * BullMQ retries a handler that threw (a database or Redis outage) with backoff; a late redelivery
 * of a dead worker's entry is harmless, since the jobs table's claim decides who runs what.
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
  async enqueue(jobId: string, attempts = 0): Promise<void> {
    const redis = this.options.connection;
    if (redis.status !== 'ready') throw new QueueDisconnected(`Redis connection is ${redis.status}`);
    const entry: EntryData = { jobId };
    await answeredInTime(this.queue.add(QUEUE_NAME, entry, { jobId: `${jobId}.${attempts}` }));
  }

  /** BullMQ removes a waiting or delayed entry; one that is active (locked) stays, and returns 0. */
  async remove(jobId: string, attempts = 0): Promise<void> {
    const redis = this.options.connection;
    if (redis.status !== 'ready') throw new QueueDisconnected(`Redis connection is ${redis.status}`);
    await answeredInTime(this.queue.remove(`${jobId}.${attempts}`));
  }

  start(handler: JobHandler): void {
    if (this.worker) return;
    this.worker = new Worker(
      QUEUE_NAME,
      async (job: Job<Partial<EntryData>>) => {
        // Entries queued before ids carried the attempt have the job's id as their own.
        const jobId = job.data.jobId ?? job.id;
        if (jobId) await handler(jobId);
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
    this.worker.on('failed', (job, error) => this.options.onError(error, job?.data.jobId ?? job?.id));
    this.worker.on('error', (error) => this.options.onError(error, undefined));
  }

  async stop(): Promise<void> {
    await this.worker?.pause();
  }

  /**
   * Fails fast while Redis is disconnected, instead of queueing a PING until it is back, and within
   * ENQUEUE_TIMEOUT_MS while it does not answer: callers check it before writing a job row.
   */
  async ping(): Promise<void> {
    const redis = this.options.connection;
    if (redis.status !== 'ready') throw new QueueDisconnected(`Redis connection is ${redis.status}`);
    await answeredInTime(redis.ping());
  }

  /** Running entries a forced close leaves behind are redelivered once their lock lapses. */
  async close(): Promise<void> {
    await this.worker?.close(true);
    await this.queue.close();
  }
}

async function answeredInTime<T>(command: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new QueueDisconnected(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`)),
      ENQUEUE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([command, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
