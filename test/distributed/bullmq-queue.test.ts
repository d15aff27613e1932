import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullQueue } from '../../src/queue/bullmq-queue.js';
import { type Backend, createBackend } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';

/**
 * The BullMQ adapter's entries after a worker died: the dead worker's entry still counts as running
 * in BullMQ until its stalled check, so a takeover must be a new entry (the next attempt), while
 * repeat offers of one attempt stay one entry.
 */
const LOCK_MS = 3000;
let backend: Backend;
let redis: Redis;
let prefix: string;
let inspect: Queue;
const queues: BullQueue[] = [];

function bullQueue(queuePrefix = prefix): BullQueue {
  const queue = new BullQueue({
    connection: redis,
    prefix: queuePrefix,
    concurrency: 1,
    lockMs: LOCK_MS,
    onError: (error) => pino({ level: 'warn' }).warn({ err: error }, 'queue error in test'),
  });
  queues.push(queue);
  return queue;
}

beforeAll(async () => {
  backend = await createBackend('distributed');
  prefix = backend.env.QUEUE_PREFIX as string;
  redis = new Redis(backend.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  await redis.ping();
  inspect = new Queue('jobs', { connection: redis, prefix });
});

afterAll(async () => {
  for (const queue of queues) await queue.close();
  await inspect?.close();
  redis?.disconnect();
  await backend?.drop();
});

describe('BullQueue after a worker died', () => {
  it('runs the next attempt at once while the dead entry still counts as running', async () => {
    const dead = bullQueue();
    let deadGot: string | undefined;
    dead.start(async (jobId) => {
      deadGot = jobId;
      await new Promise(() => {}); // the worker dies with the job in hand
    });
    await dead.enqueue('job-1', 0);
    await waitFor('the first worker to take job-1', async () => deadGot, 10_000);
    await dead.close();

    const live = bullQueue();
    const got: { jobId: string; at: number }[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    live.start(async (jobId) => {
      got.push({ jobId, at: Date.now() });
      await held;
    });
    // The same attempt again is the dead entry, still active: nothing new to run.
    await live.enqueue('job-1', 0);
    expect(await inspect.getJobCounts('wait', 'active')).toEqual({ wait: 0, active: 1 });
    const offeredAt = Date.now();
    await live.enqueue('job-1', 1);
    await waitFor('the live worker to take the next attempt', async () => got[0], LOCK_MS);
    expect(got[0]?.jobId).toBe('job-1');
    expect((got[0]?.at ?? Number.POSITIVE_INFINITY) - offeredAt).toBeLessThan(LOCK_MS);
    // Offered again while it runs (a later sweep): still one entry per attempt.
    await live.enqueue('job-1', 1);
    expect(await inspect.getJobCounts('wait', 'active')).toEqual({ wait: 0, active: 2 });
    expect(got).toHaveLength(1);
    release();
  });

  it('removes a waiting entry (a cancelled pending job) so no worker gets it', async () => {
    // A queue of its own: the workers above still take whatever lands in theirs.
    const own = `${prefix}:remove`;
    const queue = bullQueue(own);
    const entries = new Queue('jobs', { connection: redis, prefix: own });
    await queue.enqueue('job-2', 0);
    await queue.enqueue('job-3', 0);
    expect(await entries.getJobCounts('wait')).toEqual({ wait: 2 });
    await queue.remove('job-2', 0);
    expect(await entries.getJobCounts('wait')).toEqual({ wait: 1 });
    await entries.close();
    const got: string[] = [];
    queue.start(async (jobId) => {
      got.push(jobId);
    });
    await waitFor('the worker to take job-3', async () => (got.length > 0 ? true : undefined), 10_000);
    expect(got).toEqual(['job-3']);
  });
});
