import path from 'node:path';
import { Ajv } from 'ajv';
import Type from 'typebox';

/**
 * Environment → one typed, validated Config. `loadConfig` is pure: it reads only the object it is
 * given, so tests build configs without touching `process.env`.
 */
const EnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  PORT: Type.Integer({ default: 8000, minimum: 0, maximum: 65535 }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  HF_ENDPOINT: Type.String({
    default: 'https://huggingface.co',
    pattern: '^https?://[^\\s]+$',
    description: 'an http:// or https:// URL, such as https://huggingface.co',
  }),
  HF_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  MODEL_STORE_PATH: Type.String({ default: './data/model-store', minLength: 1 }),
  DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_POOL_SIZE: Type.Integer({ default: 10, minimum: 1, maximum: 200 }),
  REDIS_URL: Type.Optional(
    Type.String({ pattern: '^rediss?://[^\\s]+$', description: 'a redis:// or rediss:// URL' }),
  ),
  QUEUE_PREFIX: Type.String({
    default: 'model-hub',
    pattern: '^[A-Za-z0-9_.-]{1,64}$',
    description: "1 to 64 letters, digits, '_', '.' or '-'",
  }),
  WORKER: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
  JOB_LEASE_MS: Type.Integer({ default: 30_000, minimum: 500, maximum: 3_600_000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ default: 10_000, minimum: 0, maximum: 3_600_000 }),
  WORKER_CONCURRENCY: Type.Integer({ default: 2, minimum: 1, maximum: 64 }),
  METADATA_MAX_BYTES: Type.Integer({ default: 10 * 1024 * 1024, minimum: 0 }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  UPSTREAM_MAX_RETRIES: Type.Integer({ default: 5, minimum: 0, maximum: 20 }),
  UPSTREAM_RETRY_BASE_MS: Type.Integer({ default: 1000, minimum: 0 }),
  BODY_LIMIT_BYTES: Type.Integer({ default: 1024 * 1024, minimum: 1024 }),
  DOWNLOAD_STALL_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  DOWNLOAD_PARALLEL_THRESHOLD_BYTES: Type.Integer({ default: 64 * 1024 * 1024, minimum: 0 }),
  DOWNLOAD_CONNECTIONS_PER_FILE: Type.Integer({ default: 8, minimum: 1, maximum: 64 }),
  DOWNLOAD_CHUNK_BYTES: Type.Integer({ default: 4 * 1024 * 1024, minimum: 64 * 1024 }),
  DOWNLOAD_MAX_CONNECTIONS: Type.Integer({ default: 16, minimum: 1, maximum: 256 }),
  DOWNLOAD_FILES_PER_JOB: Type.Integer({ default: 4, minimum: 1, maximum: 64 }),
  PROGRESS_INTERVAL_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 60_000 }),
  SSE_HEARTBEAT_MS: Type.Integer({ default: 15_000, minimum: 100, maximum: 300_000 }),
  EVENTS_RETENTION_HOURS: Type.Integer({ default: 168, minimum: 1, maximum: 87_600 }),
  WEBHOOK_ALLOW_PRIVATE: Type.Union([Type.Literal('auto'), Type.Literal('true'), Type.Literal('false')], {
    default: 'auto',
  }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 300_000 }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 50 }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({ default: 1000, minimum: 0, maximum: 3_600_000 }),
  SECRETS_KEY: Type.Optional(Type.String({ minLength: 1 })),
  RATE_LIMIT_WRITES_PER_MINUTE: Type.Integer({ default: 300, minimum: 0, maximum: 1_000_000 }),
  SCAN_TEMP_MAX_AGE_MS: Type.Integer({ default: 24 * 3_600_000, minimum: 0 }),
  GC_GRACE_MS: Type.Integer({ default: 3_600_000, minimum: 0 }),
  STORE_MAX_BYTES: Type.Optional(Type.Integer({ minimum: 1 })),
  IMPORT_ROOTS: Type.Optional(Type.String({ minLength: 1 })),
  AUTH: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], { default: 'auto' }),
  METRICS_PUBLIC: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' }),
  MIRROR_MODE: Type.Union([Type.Literal('pull-through'), Type.Literal('offline')], {
    default: 'pull-through',
  }),
  MIRROR_REVISION_TTL: Type.Integer({ default: 300, minimum: 0, maximum: 7 * 24 * 3600 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
});

export type DatabaseConfig =
  | {
      dialect: 'sqlite';
      /** SQLite file path (absolute). */
      filename: string;
    }
  | {
      dialect: 'postgres';
      /** Connection URL; may hold a password, so only `describeDatabase` output is ever logged. */
      url: string;
      poolSize: number;
    };

export type QueueConfig =
  | { kind: 'local' }
  | {
      kind: 'bullmq';
      /** May hold a password; never logged. */
      redisUrl: string;
      /** Namespaces every Redis key (BullMQ's and the shared rate limit's). */
      prefix: string;
    };

export interface Config {
  host: string;
  port: number;
  /**
   * `worker` only: serves /metrics, /healthz and /readyz on this port (bound to `host`); unset, the
   * default, serves nothing. `serve` has them on `port` with the API.
   */
  metricsPort: number | undefined;
  /** Upstream hub base URL without a trailing slash; the fake hub in tests, a mirror, or huggingface.co. */
  hfEndpoint: string;
  /** Sent as `Authorization: Bearer` to the hub's own host only; never logged or returned. */
  hfToken: string | undefined;
  /** Absolute root of the content-addressed store (blobs/, metadata/, temp/). */
  storePath: string;
  database: DatabaseConfig;
  queue: QueueConfig;
  /** Whether this process runs jobs (`WORKER=off`: API only, workers run elsewhere). */
  runWorker: boolean;
  /** A running job's lease: renewed every third of it, taken over by another worker once it lapses (ms). */
  jobLeaseMs: number;
  /** How long SIGTERM waits for running jobs before handing them back to the queue (ms). */
  shutdownGraceMs: number;
  /** How many jobs run at once in this process. */
  workerConcurrency: number;
  /** Non-weight files up to this size are fetched during sync (bytes, default 10 MiB). */
  metadataMaxBytes: number;
  /** Per-request timeout for upstream API calls and for a stalled download body (ms). */
  upstreamTimeoutMs: number;
  /** How many times a transient upstream failure is retried. */
  upstreamMaxRetries: number;
  /** First backoff delay; doubles per attempt up to 8× with jitter (ms). */
  upstreamRetryBaseMs: number;
  /** Largest accepted HTTP request body (bytes). */
  bodyLimitBytes: number;
  download: {
    /** A download body that sends nothing for this long is aborted and resumed (ms). */
    stallTimeoutMs: number;
    /** Files at least this large are fetched over several range requests (bytes, default 64 MiB). */
    parallelThresholdBytes: number;
    /** Most range requests at once per large file (default 8); the count in use adapts to measured throughput. */
    connectionsPerFile: number;
    /** Size of each range request in parallel mode (bytes, default 4 MiB). */
    chunkBytes: number;
    /** Upstream connections for all downloads of this process together (default 16). */
    maxConnections: number;
    /** Files one download job fetches at once (default 4). */
    filesPerJob: number;
  };
  /** A running job's progress is written and published at most this often (ms, default 1 s). */
  progressIntervalMs: number;
  /** Event streams send a comment this often so proxies keep them open (ms, default 15 s). */
  sseHeartbeatMs: number;
  /** Stored events (what SSE clients resume from) are kept this long (hours, default 7 days). */
  eventsRetentionHours: number;
  webhooks: {
    /**
     * Whether webhooks may target private, loopback and link-local addresses (SSRF guard). `auto`
     * (default): only when the hub itself listens on a loopback HOST, i.e. on a developer's machine.
     */
    allowPrivate: 'auto' | boolean;
    /** Budget for one delivery attempt, connect to response (ms, default 10 s). */
    timeoutMs: number;
    /** Attempts before a delivery is marked dead (default 8). */
    maxAttempts: number;
    /** First retry delay; doubles per attempt with jitter, capped at one hour (ms, default 1 s). */
    retryBaseMs: number;
  };
  /**
   * Encrypts webhook secrets at rest (AES-256-GCM): 32 bytes from SECRETS_KEY (64 hex characters or
   * base64). Unset: secrets are stored plain. Never logged.
   */
  secretsKey: Buffer | undefined;
  /**
   * POST/PATCH/DELETE requests under /v1 allowed per API key (or client address without one) per
   * minute, shared by all API processes in distributed mode (default 300; 0: no limit).
   */
  rateLimitWritesPerMinute: number;
  /**
   * A scan removes a temp file untouched for longer than this whose artifact has no live download
   * (ms, default 24 h): long enough that a paused or slow transfer keeps its resumable prefix.
   */
  scanTempMaxAgeMs: number;
  /**
   * GC keeps orphan blobs modified more recently than this (ms, default 1 h), so content committed
   * just before its artifact row points at it is never collected.
   */
  gcGraceMs: number;
  /**
   * The store quota (bytes; unset: none). After each job that adds content, the least recently used
   * weight blobs of unpinned models are evicted until the store fits; their artifacts go back to pending.
   */
  storeMaxBytes: number | undefined;
  /**
   * The directories `POST /v1/hub/import` may read from (`IMPORT_ROOTS`, absolute, `:`-separated): a
   * requested path must resolve (symlinks included) to one of them or below. Empty, the default:
   * import is disabled, so an API caller can never make the hub list or read arbitrary local files.
   */
  importRoots: string[];
  /**
   * Access control. `auto` (default): API keys are required as soon as one exists; with none, the hub
   * answers only on a loopback HOST (and only to loopback Host headers) and refuses to start on any
   * other address. `on`: keys are always required. `off`: no checks at all (warned at every start).
   */
  auth: 'auto' | 'on' | 'off';
  /** Whether `/metrics` answers without a key (for a Prometheus that cannot send one); default false. */
  metricsPublic: boolean;
  /**
   * What the Hugging Face–compatible routes do with what the hub does not hold. `pull-through`
   * (default): a repo is registered and synced on its first request, and a file is downloaded and
   * streamed to the client while it arrives. `offline`: only what is stored is served.
   */
  mirrorMode: 'pull-through' | 'offline';
  /** Seconds between upstream checks of a tracked branch or tag the mirror serves (pull-through). */
  mirrorRevisionTtlSeconds: number;
  logLevel: string;
}

export class ConfigError extends Error {}

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false });
const validateEnv = ajv.compile(EnvSchema);

/** Variables whose values are never repeated in a message. */
const SECRET_VARIABLES = new Set(['HF_TOKEN', 'DATABASE_URL', 'REDIS_URL', 'SECRETS_KEY']);

/** What a variable must be, in words, from its schema. */
function expectedForm(variable: string): string {
  const schema = (EnvSchema.properties as unknown as Record<string, Record<string, unknown>>)[variable];
  if (!schema) return 'valid';
  if (typeof schema.description === 'string') return schema.description;
  const choices = schema.anyOf as { const?: unknown }[] | undefined;
  if (choices) return `one of ${choices.map((c) => String(c.const)).join(', ')}`;
  if (schema.type === 'integer') {
    const { minimum: min, maximum: max } = schema as { minimum?: number; maximum?: number };
    if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
    if (min !== undefined) return `a whole number of at least ${min}`;
    return max !== undefined ? `a whole number of at most ${max}` : 'a whole number';
  }
  return 'a non-empty value';
}

export function loadConfig(env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  const known = Object.keys(EnvSchema.properties);
  const input: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  if (!validateEnv(input)) {
    const variables = new Set((validateEnv.errors ?? []).map((e) => e.instancePath.replace(/^\//, '')));
    const problems = [...variables].map((variable) => {
      const got = SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(input[variable] ?? '')})`;
      return `${variable} must be ${expectedForm(variable)}${got}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const parsed = input as unknown as Type.Static<typeof EnvSchema>;
  const storePath = path.resolve(cwd, parsed.MODEL_STORE_PATH);
  return {
    host: parsed.HOST,
    port: parsed.PORT,
    metricsPort: parsed.METRICS_PORT,
    hfEndpoint: parsed.HF_ENDPOINT.replace(/\/+$/, ''),
    hfToken: parsed.HF_TOKEN,
    storePath,
    database: databaseConfig(
      parsed.DATABASE_URL,
      path.resolve(cwd, parsed.DATA_DIR ?? storePath),
      parsed.DATABASE_POOL_SIZE,
    ),
    queue: queueConfig(parsed.REDIS_URL, parsed.QUEUE_PREFIX),
    runWorker: runWorker(parsed.WORKER, parsed.REDIS_URL),
    jobLeaseMs: parsed.JOB_LEASE_MS,
    shutdownGraceMs: parsed.SHUTDOWN_GRACE_MS,
    workerConcurrency: parsed.WORKER_CONCURRENCY,
    metadataMaxBytes: parsed.METADATA_MAX_BYTES,
    upstreamTimeoutMs: parsed.UPSTREAM_TIMEOUT_MS,
    upstreamMaxRetries: parsed.UPSTREAM_MAX_RETRIES,
    upstreamRetryBaseMs: parsed.UPSTREAM_RETRY_BASE_MS,
    bodyLimitBytes: parsed.BODY_LIMIT_BYTES,
    download: {
      stallTimeoutMs: parsed.DOWNLOAD_STALL_TIMEOUT_MS,
      parallelThresholdBytes: parsed.DOWNLOAD_PARALLEL_THRESHOLD_BYTES,
      connectionsPerFile: parsed.DOWNLOAD_CONNECTIONS_PER_FILE,
      chunkBytes: parsed.DOWNLOAD_CHUNK_BYTES,
      maxConnections: parsed.DOWNLOAD_MAX_CONNECTIONS,
      filesPerJob: parsed.DOWNLOAD_FILES_PER_JOB,
    },
    progressIntervalMs: parsed.PROGRESS_INTERVAL_MS,
    sseHeartbeatMs: parsed.SSE_HEARTBEAT_MS,
    eventsRetentionHours: parsed.EVENTS_RETENTION_HOURS,
    webhooks: {
      allowPrivate:
        parsed.WEBHOOK_ALLOW_PRIVATE === 'auto' ? 'auto' : parsed.WEBHOOK_ALLOW_PRIVATE === 'true',
      timeoutMs: parsed.WEBHOOK_TIMEOUT_MS,
      maxAttempts: parsed.WEBHOOK_MAX_ATTEMPTS,
      retryBaseMs: parsed.WEBHOOK_RETRY_BASE_MS,
    },
    secretsKey: parsed.SECRETS_KEY === undefined ? undefined : secretsKey(parsed.SECRETS_KEY),
    rateLimitWritesPerMinute: parsed.RATE_LIMIT_WRITES_PER_MINUTE,
    scanTempMaxAgeMs: parsed.SCAN_TEMP_MAX_AGE_MS,
    gcGraceMs: parsed.GC_GRACE_MS,
    storeMaxBytes: parsed.STORE_MAX_BYTES,
    importRoots: importRoots(parsed.IMPORT_ROOTS),
    auth: parsed.AUTH,
    metricsPublic: parsed.METRICS_PUBLIC === 'true',
    mirrorMode: parsed.MIRROR_MODE,
    mirrorRevisionTtlSeconds: parsed.MIRROR_REVISION_TTL,
    logLevel: parsed.LOG_LEVEL,
  };
}

function databaseConfig(url: string | undefined, dataDir: string, poolSize: number): DatabaseConfig {
  if (url === undefined) return { dialect: 'sqlite', filename: path.join(dataDir, 'model-hub.sqlite') };
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!file)
      throw new ConfigError('DATABASE_URL sqlite: URL needs a file path, e.g. sqlite:///var/lib/hub.db');
    return { dialect: 'sqlite', filename: path.resolve(file) };
  }
  if (/^postgres(ql)?:\/\/[^\s]+$/.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError('DATABASE_URL is not a valid postgres:// URL');
    }
    return { dialect: 'postgres', url, poolSize };
  }
  throw new ConfigError(
    'DATABASE_URL must be a postgres:// or sqlite: URL (or unset for the embedded SQLite file)',
  );
}

function queueConfig(redisUrl: string | undefined, prefix: string): QueueConfig {
  if (redisUrl === undefined) return { kind: 'local' };
  try {
    new URL(redisUrl);
  } catch {
    throw new ConfigError('REDIS_URL is not a valid redis:// URL');
  }
  return { kind: 'bullmq', redisUrl, prefix };
}

function runWorker(worker: 'on' | 'off', redisUrl: string | undefined): boolean {
  if (worker === 'off' && redisUrl === undefined) {
    throw new ConfigError(
      'WORKER=off needs REDIS_URL: with the in-process queue no other process could run the jobs',
    );
  }
  return worker === 'on';
}

function importRoots(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(':').map((entry) => {
    if (!path.isAbsolute(entry)) {
      throw new ConfigError(
        `IMPORT_ROOTS must list absolute directories separated by ':', got ${entry === '' ? 'an empty entry' : JSON.stringify(entry)}`,
      );
    }
    return path.resolve(entry);
  });
}

/** 32 bytes as 64 hex characters or base64 (with or without padding); the message never holds the value. */
function secretsKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64')
      : undefined;
  if (key?.length !== 32) {
    throw new ConfigError(
      'SECRETS_KEY must be 32 bytes written as 64 hex characters or as base64 (for example: openssl rand -hex 32)',
    );
  }
  return key;
}

/** The database as it may appear in a log: no password, no query string. */
export function describeDatabase(database: DatabaseConfig): string {
  if (database.dialect === 'sqlite') return database.filename;
  const url = new URL(database.url);
  return `postgres://${url.username ? `${decodeURIComponent(url.username)}@` : ''}${url.host}${url.pathname}`;
}
