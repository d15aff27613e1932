import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { nowIso } from './clock.js';
import { type Config, ConfigError } from './config.js';
import { ApiKeysRepository } from './db/api-keys.repo.js';
import { ArtifactsRepository } from './db/artifacts.repo.js';
import { ChangeCounter } from './db/change-counter.js';
import { type Db, openDatabase } from './db/connection.js';
import { EventsRepository } from './db/events.repo.js';
import { pingDatabase } from './db/health.js';
import { JobsRepository } from './db/jobs.repo.js';
import { LeasesRepository } from './db/leases.repo.js';
import { migrateToLatest } from './db/migrator.js';
import { ModelsRepository } from './db/models.repo.js';
import { listenForChanges } from './db/pg-change-listener.js';
import { SecretBox } from './db/secret-box.js';
import { WebhooksRepository } from './db/webhooks.repo.js';
import { errorMessage } from './errors.js';
import { type EventBus, LocalEventBus, RedisEventBus } from './events/event-bus.js';
import { EventLog } from './events/event-log.js';
import { HubMetrics } from './events/metrics.js';
import { privateTargetsAllowed, UrlPolicy } from './events/url-policy.js';
import { WebhookDispatcher } from './events/webhook-dispatcher.js';
import { buildOpsServer } from './http/ops-server.js';
import { buildHttpServer } from './http/server.js';
import { isLoopbackHost } from './loopback.js';
import type { JobQueue } from './queue/job-queue.js';
import { LocalQueue } from './queue/local-queue.js';
import { ApiKeysService } from './services/api-keys.service.js';
import { EventsService } from './services/events.service.js';
import { JobCancelService } from './services/job-cancel.service.js';
import { JobsService } from './services/jobs.service.js';
import { MirrorService } from './services/mirror.service.js';
import { MirrorPullThrough } from './services/mirror-pull-through.js';
import { ReadinessService } from './services/readiness.service.js';
import { hubNameOf } from './services/register-check.js';
import { RegistryService } from './services/registry.service.js';
import { StorageService } from './services/storage.service.js';
import { type SecretsReport, WebhooksService } from './services/webhooks.service.js';
import { BlobStore } from './store/blob-store.js';
import { HashWorker } from './store/hash-worker.js';
import { ImportRoots } from './store/import-roots.js';
import { PartialDownloads } from './store/partial-downloads.js';
import { SingleFlight } from './tasks/download/single-flight.js';
import { reportUpstreamRetry } from './tasks/job-context.js';
import { createJobRunner } from './tasks/job-runner.js';
import { upgradeMetadataLayout } from './tasks/metadata-layout.js';
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

export type WorkerProcess = Omit<App, 'http'> & {
  /** Where /metrics, /healthz and /readyz are served (`METRICS_PORT`); undefined when it is unset. */
  metricsUrl: string | undefined;
};

/** `serve`: the HTTP API, plus the job worker unless `WORKER=off`. */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const runtime = await createRuntime(config, logger, config.runWorker, (db) =>
    checkAccessControl(config, db, logger),
  );
  // Registering asks upstream once while its client waits: a few seconds and one retry at most.
  const checkAttemptMs = Math.min(config.upstreamTimeoutMs, 5_000);
  const checkLimits = {
    timeoutMs: checkAttemptMs,
    retry: {
      maxRetries: Math.min(config.upstreamMaxRetries, 1),
      baseDelayMs: Math.min(config.upstreamRetryBaseMs, 250),
      maxWaitMs: 1_000,
    },
  };
  const registry = new RegistryService(
    runtime.models,
    runtime.artifacts,
    runtime.jobsService,
    runtime.store,
    {
      hubName: hubNameOf(config.hfEndpoint),
      tokenSet: Boolean(config.hfToken),
      timeoutMs: checkAttemptMs + 2_000,
      check: (repoId, revision) => runtime.hub.checkRepo(repoId, revision, checkLimits),
    },
  );
  const pullThrough =
    config.mirrorMode === 'pull-through'
      ? new MirrorPullThrough({
          models: runtime.models,
          artifacts: runtime.artifacts,
          jobRows: new JobsRepository(runtime.db),
          registry,
          jobs: runtime.jobsService,
          hub: runtime.hub,
          bus: runtime.bus,
          store: runtime.store,
          partials: new PartialDownloads(runtime.store.tempDir),
          firstByteTimeoutMs: config.upstreamTimeoutMs,
          revisionTtlMs: config.mirrorRevisionTtlSeconds * 1000,
          warn: (message) => logger.warn(message),
        })
      : undefined;
  const http = await buildHttpServer({
    apiKeys: runtime.apiKeys,
    access: { mode: config.auth, listenHost: config.host, metricsPublic: config.metricsPublic },
    rateLimit: {
      writesPerMinute: config.rateLimitWritesPerMinute,
      redis: runtime.redis,
      redisKeyPrefix: config.queue.kind === 'bullmq' ? config.queue.prefix : '',
    },
    registry,
    mirror: new MirrorService(runtime.models, runtime.artifacts, runtime.store, pullThrough),
    jobs: runtime.jobsService,
    jobCancel: runtime.jobCancel,
    webhooks: runtime.webhooks,
    storage: new StorageService(runtime.models, runtime.artifacts, runtime.store, config.storeMaxBytes),
    events: new EventsService(new EventsRepository(runtime.db), new JobsRepository(runtime.db), runtime.bus),
    sseHeartbeatMs: config.sseHeartbeatMs,
    readiness: runtime.readiness,
    metrics: runtime.metrics,
    changes: runtime.changes,
    storeRoot: runtime.store.root,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
  });
  // Cached list answers must see other processes' writes: PostgreSQL notifies them (SQLite's are
  // read from the file itself).
  const changeListener =
    config.database.dialect === 'postgres'
      ? listenForChanges(config.database.url, runtime.changes, (error) =>
          logger.warn(
            { err: error },
            'database change notifications lost; list answers are not cached until they are back',
          ),
        )
      : undefined;
  return {
    http,
    db: runtime.db,
    store: runtime.store,
    workerId: runtime.leases.owner,
    async close() {
      await http.close();
      await changeListener?.close();
      await runtime.close();
    },
  };
}

/** `worker`: runs jobs from the shared queue, no HTTP. */
export async function createWorkerProcess(config: Config, logger: Logger): Promise<WorkerProcess> {
  const runtime = await createRuntime(config, logger, true);
  let ops: FastifyInstance | undefined;
  let metricsUrl: string | undefined;
  if (config.metricsPort !== undefined) {
    ops = await buildOpsServer({
      readiness: runtime.readiness,
      metrics: runtime.metrics,
      logger,
      access: {
        keys: runtime.apiKeys,
        mode: config.auth,
        listenHost: config.host,
        metricsPublic: config.metricsPublic,
      },
    });
    try {
      metricsUrl = await ops.listen({ host: config.host, port: config.metricsPort });
    } catch (error) {
      await ops.close();
      await runtime.close();
      throw error;
    }
  }
  return {
    db: runtime.db,
    store: runtime.store,
    workerId: runtime.leases.owner,
    metricsUrl,
    async close() {
      await ops?.close();
      await runtime.close();
    },
  };
}

/**
 * Refuses to serve an open API beyond this machine: on a non-loopback HOST, `AUTH=auto` needs at
 * least one key. `AUTH=off` is the operator's explicit choice, repeated as a warning at every start.
 */
async function checkAccessControl(config: Config, db: Db, logger: Logger): Promise<void> {
  if (config.auth === 'off') {
    logger.warn(
      { host: config.host },
      'AUTH=off: access control is disabled; anyone who can reach this port can register, delete and read everything',
    );
    return;
  }
  if (config.auth === 'auto' && !isLoopbackHost(config.host) && !(await new ApiKeysRepository(db).any())) {
    throw new ConfigError(
      `Refusing to serve on HOST=${config.host} with no API key: anyone who can reach it could use it. ` +
        'Create the first key with `model-hub keys create --scope admin` (same environment as serve), ' +
        'listen on 127.0.0.1, or set AUTH=off to run without access control.',
    );
  }
}

/** Composition root: the only place that knows every concrete part. */
async function createRuntime(
  config: Config,
  logger: Logger,
  runWorker: boolean,
  /** Checks that must pass before anything starts (the database is migrated by then). */
  preflight?: (db: Db) => Promise<void>,
) {
  const store = new BlobStore(config.storePath);
  await store.init();
  const redis =
    config.queue.kind === 'bullmq' ? await connectRedis(config.queue.redisUrl, logger) : undefined;
  const changes = new ChangeCounter();
  const db = openDatabase(
    config.database,
    (error) => logger.warn({ err: error }, 'database connection dropped; reconnecting on next use'),
    changes,
  );
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    await preflight?.(db);
  } catch (error) {
    await db.destroy();
    redis?.disconnect();
    throw error;
  }

  const bus: EventBus =
    redis && config.queue.kind === 'bullmq'
      ? await RedisEventBus.connect(redis, config.queue.prefix, (error) =>
          logger.warn({ err: error }, 'event bus error'),
        )
      : new LocalEventBus();
  const eventLog = new EventLog(db, bus);

  const models = new ModelsRepository(db);
  const artifacts = new ArtifactsRepository(db);
  const jobs = new JobsRepository(db);
  const leaseRows = new LeasesRepository(db);
  const leases = new WorkerLeases(jobs, leaseRows, config.jobLeaseMs, logger);
  const metrics = new HubMetrics({
    cluster: { jobCounts: () => jobs.countByTypeAndStatus(), storeUsage: () => artifacts.storeUsage() },
    onCollectError: (error) => logger.warn({ err: error }, 'metrics: database-backed gauges unavailable'),
  });
  const retry = { maxRetries: config.upstreamMaxRetries, baseDelayMs: config.upstreamRetryBaseMs };
  const hub = new HfClient({
    endpoint: config.hfEndpoint,
    token: config.hfToken,
    timeoutMs: config.upstreamTimeoutMs,
    stallTimeoutMs: config.download.stallTimeoutMs,
    retry,
    userAgent: USER_AGENT,
    // Counted, logged, and told to the job the request is made for (if any: see job-context.ts).
    onRetry: (retry, error) => {
      metrics.upstreamRetry();
      logger.warn({ error: errorMessage(error) }, retry.message);
      void reportUpstreamRetry(retry);
    },
    onResponse: (status, hubErrorCode) => metrics.upstreamResponse(status, hubErrorCode),
    pause:
      redis && config.queue.kind === 'bullmq'
        ? new RedisPause(redis, config.queue.prefix, (error) =>
            logger.warn({ err: error }, 'shared rate-limit state unavailable'),
          )
        : new LocalPause(),
  });
  // Without a job id it is the queue's own trouble (Redis gone, a lock lost with it): it reconnects
  // by itself, and the jobs table offers every unfinished job again, so it is a warning.
  const onJobError = (error: unknown, jobId: string | undefined) =>
    jobId === undefined
      ? logger.warn({ err: error }, 'job queue error')
      : logger.error({ err: error, jobId }, 'job handler crashed');
  const queue: JobQueue =
    redis && config.queue.kind === 'bullmq'
      ? // Loaded only in distributed mode, like ioredis: the embedded default never pays for them.
        new (await import('./queue/bullmq-queue.js')).BullQueue({
          connection: redis,
          prefix: config.queue.prefix,
          concurrency: config.workerConcurrency,
          lockMs: config.jobLeaseMs,
          onError: onJobError,
        })
      : new LocalQueue(config.workerConcurrency, onJobError);
  const importRoots = new ImportRoots(config.importRoots);
  const jobsService = new JobsService(jobs, models, artifacts, queue, eventLog, importRoots);
  const jobCancel = new JobCancelService(jobs, queue, eventLog, bus);
  const readiness = new ReadinessService({
    database: () => pingDatabase(db),
    queue: () => queue.ping(),
    store: () => store.probeWritable(),
  });
  const reaper = new Reaper({
    jobs,
    artifacts,
    leases: leaseRows,
    events: new EventsRepository(db),
    eventLog,
    queue,
    leaseMs: config.jobLeaseMs,
    eventsRetentionMs: config.eventsRetentionHours * 3_600_000,
    logger,
  });

  if (config.queue.kind === 'local') {
    // Embedded: this process is the only worker, so whatever a crash left running is an orphan.
    const at = nowIso();
    const interruptedArtifacts = await artifacts.resetInterrupted(at);
    const interruptedJobs = await jobs.requeueRunning(at);
    // Jobs whose cancel was asked for before the crash end cancelled rather than run again.
    await reaper.endCancelled(at);
    const unfinished = await jobs.listUnfinished();
    if (unfinished.length > 0) {
      logger.info(
        { interruptedJobs, interruptedArtifacts, pending: unfinished.length },
        'resuming unfinished jobs',
      );
    }
    for (const job of unfinished) await queue.enqueue(job.id, job.attempts);
  } else {
    // Distributed: other workers may be alive; only work whose lease lapsed is taken back.
    await reaper.sweep();
  }
  reaper.start();

  // Every process sends webhooks: claims in the database keep two from sending one delivery.
  const webhookRows = new WebhooksRepository(db);
  const urlPolicy = new UrlPolicy({
    allowPrivate: privateTargetsAllowed(config.webhooks.allowPrivate, config.host),
  });
  const secrets = new SecretBox(config.secretsKey);
  const webhookDispatcher = new WebhookDispatcher({
    webhooks: webhookRows,
    deliveriesQueued: (wake) => eventLog.onDeliveriesQueued(wake),
    policy: urlPolicy,
    secrets,
    owner: leases.owner,
    timeoutMs: config.webhooks.timeoutMs,
    maxAttempts: config.webhooks.maxAttempts,
    retryBaseMs: config.webhooks.retryBaseMs,
    userAgent: USER_AGENT,
    logger,
  });
  const webhooks = new WebhooksService(webhookRows, urlPolicy, secrets, () => webhookDispatcher.wake());
  reportSecrets(await webhooks.protectSecrets(), logger);
  webhookDispatcher.start();

  // One hashing thread per process, started by the first large download (2 cores: one is enough).
  const hashWorker = runWorker ? new HashWorker() : undefined;
  if (runWorker) {
    await upgradeMetadataLayout(
      { models, artifacts, store, metadataMaxBytes: config.metadataMaxBytes },
      logger,
    );
    leases.start();
    // A cancel asked for on any API process reaches the handler running the job here (Redis pub/sub
    // in distributed mode); the heartbeat catches a signal that got lost.
    bus.subscribe((event) => {
      if (event.type === 'job.cancel_requested' && event.job_id !== null) leases.cancel(event.job_id);
    });
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
          hashWorker,
        },
        inFlight: new SingleFlight(),
        leases,
        metadataMaxBytes: config.metadataMaxBytes,
        importRoots,
        fileConcurrency: config.download.filesPerJob,
        leaseRows,
        scanTempMaxAgeMs: config.scanTempMaxAgeMs,
        gcGraceMs: config.gcGraceMs,
        storeMaxBytes: config.storeMaxBytes,
        events: eventLog,
        metrics,
        progressIntervalMs: config.progressIntervalMs,
        logger,
      }),
    );
    logger.info({ worker: leases.owner, concurrency: config.workerConcurrency }, 'worker started');
  }

  return {
    db,
    /** Moves whenever the database may have changed (for cached answers). */
    changes,
    store,
    models,
    artifacts,
    jobsService,
    jobCancel,
    leases,
    bus,
    /** The upstream client (the mirror's pull-through asks it whether a repo exists). */
    hub,
    eventLog,
    metrics,
    webhooks,
    /** The shared Redis connection in distributed mode (for state all API processes share). */
    redis,
    readiness,
    apiKeys: new ApiKeysService(new ApiKeysRepository(db)),
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
      await hashWorker?.close();
      await hub.close();
      await webhookDispatcher.stop();
      await bus.close();
      await db.destroy();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** One line at start about webhook secrets at rest, only when there is something to say. */
function reportSecrets(report: SecretsReport, logger: Logger): void {
  if (report.encrypted > 0) {
    logger.info(
      { webhooks: report.encrypted },
      'webhook secrets stored plain were encrypted with SECRETS_KEY',
    );
  }
  if (report.plain > 0) {
    logger.warn(
      { webhooks: report.plain },
      'webhook secrets are stored unencrypted; set SECRETS_KEY (32 bytes, e.g. `openssl rand -hex 32`) to encrypt them at rest',
    );
  }
  if (report.unreadable > 0) {
    logger.error(
      { webhooks: report.unreadable },
      'webhook secrets cannot be decrypted: SECRETS_KEY is missing or not the key they were encrypted with; their deliveries fail until it is',
    );
  }
}

/** Fails start with a clear message instead of queueing commands for a Redis that is not there. */
async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis');
  const redis = new RedisClient(url, { maxRetriesPerRequest: null, lazyConnect: true });
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
