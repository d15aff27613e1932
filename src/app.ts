import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { nowIso } from './clock.js';
import type { Config } from './config.js';
import { ArtifactsRepository } from './db/artifacts.repo.js';
import { type Db, openDatabase } from './db/connection.js';
import { JobsRepository } from './db/jobs.repo.js';
import { LeasesRepository } from './db/leases.repo.js';
import { migrateToLatest } from './db/migrator.js';
import { ModelsRepository } from './db/models.repo.js';
import { buildHttpServer } from './http/server.js';
import { BullQueue } from './queue/bullmq-queue.js';
import type { JobQueue } from './queue/job-queue.js';
import { LocalQueue } from './queue/local-queue.js';
import { JobsService } from './services/jobs.service.js';
import { RegistryService } from './services/registry.service.js';
import { BlobStore } from './store/blob-store.js';
import { PartialDownloads } from './store/partial-downloads.js';
import { SingleFlight } from './tasks/download/single-flight.js';
import { createJobRunner } from './tasks/job-runner.js';
import { Reaper } from './tasks/reaper.js';
import { WorkerLeases } from './tasks/worker-leases.js';
import { HfClient } from './upstream/hf-client.js';
import { LocalPause, RedisPause } from './upstream/upstream-pause.js';
import { USER_AGENT, VERSION } from './version.js';

export interface App {
  http: FastifyInstance;
  db: Db;
  store: BlobStore;
  /** This process's worker identity (`host:pid:nonce`), as jobs show it. */
  workerId: string;
  close(): Promise<void>;
}

export type WorkerProcess = Omit<App, 'http'>;

/** `serve`: the HTTP API, plus the job worker unless `WORKER=off`. */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const runtime = await createRuntime(config, logger, config.runWorker);
  const http = await buildHttpServer({
    registry: new RegistryService(runtime.models, runtime.artifacts, runtime.jobsService),
    jobs: runtime.jobsService,
    storeRoot: runtime.store.root,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
  });
  return {
    http,
    db: runtime.db,
    store: runtime.store,
    workerId: runtime.leases.owner,
    async close() {
      await http.close();
      await runtime.close();
    },
  };
}

/** `worker`: runs jobs from the shared queue, no HTTP. */
export async function createWorkerProcess(config: Config, logger: Logger): Promise<WorkerProcess> {
  const runtime = await createRuntime(config, logger, true);
  return { db: runtime.db, store: runtime.store, workerId: runtime.leases.owner, close: runtime.close };
}

/** Composition root: the only place that knows every concrete part. */
async function createRuntime(config: Config, logger: Logger, runWorker: boolean) {
  const store = new BlobStore(config.storePath);
  await store.init();
  const redis =
    config.queue.kind === 'bullmq' ? await connectRedis(config.queue.redisUrl, logger) : undefined;
  const db = openDatabase(config.database, (error) =>
    logger.warn({ err: error }, 'database connection dropped; reconnecting on next use'),
  );
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
  } catch (error) {
    await db.destroy();
    redis?.disconnect();
    throw error;
  }

  const models = new ModelsRepository(db);
  const artifacts = new ArtifactsRepository(db);
  const jobs = new JobsRepository(db);
  const leaseRows = new LeasesRepository(db);
  const leases = new WorkerLeases(jobs, leaseRows, config.jobLeaseMs, logger);
  const retry = { maxRetries: config.upstreamMaxRetries, baseDelayMs: config.upstreamRetryBaseMs };
  const hub = new HfClient({
    endpoint: config.hfEndpoint,
    token: config.hfToken,
    timeoutMs: config.upstreamTimeoutMs,
    stallTimeoutMs: config.download.stallTimeoutMs,
    retry,
    userAgent: USER_AGENT,
    onRetry: (message) => logger.warn(message),
    pause:
      redis && config.queue.kind === 'bullmq'
        ? new RedisPause(redis, config.queue.prefix, (error) =>
            logger.warn({ err: error }, 'shared rate-limit state unavailable'),
          )
        : new LocalPause(),
  });
  const onJobError = (error: unknown, jobId: string | undefined) =>
    logger.error({ err: error, jobId }, 'job handler crashed');
  const queue: JobQueue =
    redis && config.queue.kind === 'bullmq'
      ? new BullQueue({
          connection: redis,
          prefix: config.queue.prefix,
          concurrency: config.workerConcurrency,
          lockMs: config.jobLeaseMs,
          onError: onJobError,
        })
      : new LocalQueue(config.workerConcurrency, onJobError);
  const jobsService = new JobsService(jobs, models, artifacts, queue);
  const reaper = new Reaper({
    jobs,
    artifacts,
    leases: leaseRows,
    queue,
    leaseMs: config.jobLeaseMs,
    logger,
  });

  if (config.queue.kind === 'local') {
    // Embedded: this process is the only worker, so whatever a crash left running is an orphan.
    const at = nowIso();
    const interruptedArtifacts = await artifacts.resetInterrupted(at);
    const interruptedJobs = await jobs.requeueRunning(at);
    const unfinished = await jobs.listUnfinished();
    if (unfinished.length > 0) {
      logger.info(
        { interruptedJobs, interruptedArtifacts, pending: unfinished.length },
        'resuming unfinished jobs',
      );
    }
    for (const job of unfinished) await queue.enqueue(job.id);
  } else {
    // Distributed: other workers may be alive; only work whose lease lapsed is taken back.
    await reaper.sweep();
  }
  reaper.start();

  if (runWorker) {
    leases.start();
    queue.start(
      createJobRunner({
        jobs,
        models,
        artifacts,
        store,
        partials: new PartialDownloads(store.tempDir),
        hub,
        transfer: {
          retry,
          parallelThresholdBytes: config.download.parallelThresholdBytes,
          connectionsPerFile: config.download.connectionsPerFile,
          chunkBytes: config.download.chunkBytes,
          connectionBudget: pLimit(config.download.maxConnections),
        },
        inFlight: new SingleFlight(),
        leases,
        metadataMaxBytes: config.metadataMaxBytes,
        fileConcurrency: config.download.filesPerJob,
        logger,
      }),
    );
    logger.info({ worker: leases.owner, concurrency: config.workerConcurrency }, 'worker started');
  }

  return {
    db,
    store,
    models,
    artifacts,
    jobsService,
    leases,
    /**
     * Graceful stop: take no new jobs, give running ones `shutdownGraceMs` to finish, then hand
     * what is still running back to the queue (pending, lease cleared) so another worker resumes it
     * from its checkpointed partial file. Nothing is left `running` without an owner.
     */
    async close() {
      await reaper.stop();
      const finished = await Promise.race([
        queue.stop().then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, config.shutdownGraceMs, false).unref()),
      ]);
      await leases.stop();
      const handedBack = await leases.releaseAll();
      if (!finished || handedBack.length > 0) {
        logger.warn({ jobs: handedBack }, 'jobs still running at shutdown were handed back to the queue');
      }
      await queue.close();
      await hub.close();
      await db.destroy();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Fails start with a clear message instead of queueing commands for a Redis that is not there. */
async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis connection error'));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const where = new URL(url);
    throw new Error(
      `Cannot reach Redis at ${where.host} (REDIS_URL): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return redis;
}
