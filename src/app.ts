import type { FastifyInstance } from 'fastify';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { nowIso } from './clock.js';
import type { Config } from './config.js';
import { ArtifactsRepository } from './db/artifacts.repo.js';
import { type Db, openDatabase } from './db/connection.js';
import { JobsRepository } from './db/jobs.repo.js';
import { migrateToLatest } from './db/migrator.js';
import { ModelsRepository } from './db/models.repo.js';
import { buildHttpServer } from './http/server.js';
import { LocalQueue } from './queue/local-queue.js';
import { JobsService } from './services/jobs.service.js';
import { RegistryService } from './services/registry.service.js';
import { BlobStore } from './store/blob-store.js';
import { PartialDownloads } from './store/partial-downloads.js';
import { SingleFlight } from './tasks/download/single-flight.js';
import { createJobRunner } from './tasks/job-runner.js';
import { HfClient } from './upstream/hf-client.js';
import { USER_AGENT, VERSION } from './version.js';

export interface App {
  http: FastifyInstance;
  db: Db;
  store: BlobStore;
  close(): Promise<void>;
}

/** How long shutdown waits for running jobs; unfinished ones resume at the next start. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Composition root: the only place that knows every concrete part. */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const store = new BlobStore(config.storePath);
  await store.init();
  const db = openDatabase(config.database);
  const applied = await migrateToLatest(db);
  if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');

  const models = new ModelsRepository(db);
  const artifacts = new ArtifactsRepository(db);
  const jobs = new JobsRepository(db);
  const retry = { maxRetries: config.upstreamMaxRetries, baseDelayMs: config.upstreamRetryBaseMs };
  const hub = new HfClient({
    endpoint: config.hfEndpoint,
    token: config.hfToken,
    timeoutMs: config.upstreamTimeoutMs,
    stallTimeoutMs: config.download.stallTimeoutMs,
    retry,
    userAgent: USER_AGENT,
    onRetry: (message) => logger.warn(message),
  });
  const queue = new LocalQueue(config.workerConcurrency, (error, jobId) =>
    logger.error({ err: error, jobId }, 'job handler crashed'),
  );
  const jobsService = new JobsService(jobs, models, artifacts, queue);
  const registry = new RegistryService(models, artifacts, jobsService);
  const runJob = createJobRunner({
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
    metadataMaxBytes: config.metadataMaxBytes,
    fileConcurrency: config.download.filesPerJob,
    logger,
  });
  const http = await buildHttpServer({
    registry,
    jobs: jobsService,
    storeRoot: store.root,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
  });

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
  queue.start(runJob);

  return {
    http,
    db,
    store,
    async close() {
      await http.close();
      const stopped = await Promise.race([
        queue.stop().then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS, false).unref()),
      ]);
      if (!stopped) logger.warn('jobs still running at shutdown; they resume at the next start');
      await hub.close();
      await db.destroy();
    },
  };
}
