import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table shapes as TypeScript sees them (camelCase; the CamelCasePlugin maps them to the
 * snake_case columns). Portable on purpose: text ids made in the app, integer sizes, ISO-8601
 * UTC timestamps as text, JSON as text behind `db/json.ts`.
 */
export type ModelStatus = 'registered' | 'syncing' | 'synced' | 'error';
export type FileType = 'model' | 'config' | 'tokenizer' | 'other';
export type DownloadStatus = 'pending' | 'downloading' | 'completed' | 'failed';
export type JobType = 'sync' | 'download' | 'scan' | 'gc' | 'import';
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface ModelReposTable {
  id: string;
  vendor: string;
  name: string;
  repoId: string;
  revision: string;
  commitSha: string | null;
  status: ModelStatus;
  error: string | null;
  lastSyncedAt: string | null;
  /** Set while the model is pinned: its blobs are never evicted to meet STORE_MAX_BYTES. */
  pinnedAt: ColumnType<string | null, string | null | undefined, string | null>;
  createdAt: string;
  updatedAt: string;
}

export interface ArtifactsTable {
  id: string;
  modelId: string;
  path: string;
  size: number;
  fileType: FileType;
  /** Git blob sha1 of the file (for LFS files, of its pointer). */
  upstreamOid: string | null;
  /** LFS sha256 of the content; null for plain git files. */
  upstreamSha256: string | null;
  commitSha: string | null;
  downloadStatus: DownloadStatus;
  sha256: string | null;
  /** Relative to the store root, e.g. `blobs/sha256/<hash>`. */
  localPath: string | null;
  bytesDownloaded: ColumnType<number, number | undefined, number>;
  error: string | null;
  removedAt: string | null;
  /** When its content was last downloaded, reused, imported or exported: the store quota's LRU order. */
  lastUsedAt: ColumnType<string | null, string | null | undefined, string | null>;
  createdAt: string;
  updatedAt: string;
}

export interface JobsTable {
  id: string;
  type: JobType;
  status: JobStatus;
  payload: string;
  result: string | null;
  error: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Worker holding a running job (`host:pid:nonce`); null when no one does. */
  leaseOwner: ColumnType<string | null, string | null | undefined, string | null>;
  /** When that worker's claim lapses unless renewed; another worker may then take the job. */
  leaseExpiresAt: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON job progress (files and bytes done, speed, ETA), written at a bounded rate while it runs. */
  progress: ColumnType<string | null, string | null | undefined, string | null>;
  /** Lines the job has written so far, kept or not (job_logs holds only its first and last ones). */
  logLines: ColumnType<number, number | undefined, number>;
  /** The worker whose lapsed lease the job was last taken back from (`host:pid:nonce`); null if never. */
  takenOverFrom: ColumnType<string | null, string | null | undefined, string | null>;
  /** What the job does (`sync:<model id>`, …): at most one pending or running job per key. */
  dedupKey: ColumnType<string | null, string | null | undefined, string | null>;
  /** The client's `Idempotency-Key` of the request that created the job; unique. */
  idempotencyKey: ColumnType<string | null, string | null | undefined, string | null>;
  /** sha256 of that request (method, path, canonical body): the same key with another request is refused. */
  requestFingerprint: ColumnType<string | null, string | null | undefined, string | null>;
  /** The failed or cancelled job this one retries (`POST /v1/hub/jobs/{id}/retry`); null otherwise. */
  retryOf: ColumnType<string | null, string | null | undefined, string | null>;
  /**
   * When a cancel of the running job was asked for. Its worker stops the handler and ends the job
   * `cancelled`; a job so marked is never claimed again, and the reaper ends it once no live worker holds it.
   */
  cancelRequestedAt: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface LeasesTable {
  /** What is locked, e.g. `content:<sha256>`. */
  key: string;
  holder: string;
  expiresAt: string;
}

export interface JobLogsTable {
  jobId: string;
  seq: number;
  at: string;
  message: string;
}

export type EventType =
  | 'job.created'
  | 'job.progress'
  | 'job.completed'
  | 'job.failed'
  | 'job.cancelled'
  | 'artifact.completed'
  | 'artifact.failed'
  | 'model.synced'
  /** Transient, on the event bus only (never stored or streamed): see events/artifact-progress.ts. */
  | 'artifact.progress'
  /** Transient, on the event bus only: asks the worker running the job to stop it (see tasks/worker-leases.ts). */
  | 'job.cancel_requested';

/** The durable event log; `seq` is the id an SSE client resumes from. */
export interface EventsTable {
  seq: Generated<number>;
  type: EventType;
  at: string;
  jobId: string | null;
  modelId: string | null;
  artifactId: string | null;
  /** JSON. */
  data: string;
}

export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON array of subscribed event types. */
  events: string;
  /** HMAC key for `X-ModelHub-Signature`; never returned or logged. */
  secret: string | null;
  createdAt: string;
  updatedAt: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'dead';

/** The webhook outbox: one row per (event, subscribed webhook), with its attempts. */
export interface WebhookDeliveriesTable {
  id: string;
  webhookId: string;
  eventSeq: number;
  eventType: EventType;
  /** The exact JSON body that is POSTed (and signed). */
  body: string;
  status: DeliveryStatus;
  attempts: ColumnType<number, number | undefined, number>;
  nextAttemptAt: string;
  /** A dispatcher holding this delivery while it POSTs; another may take it once `lockedUntil` passes. */
  lockedBy: ColumnType<string | null, string | null | undefined, string | null>;
  lockedUntil: ColumnType<string | null, string | null | undefined, string | null>;
  lastStatusCode: ColumnType<number | null, number | null | undefined, number | null>;
  lastError: ColumnType<string | null, string | null | undefined, string | null>;
  createdAt: string;
  updatedAt: string;
  deliveredAt: ColumnType<string | null, string | null | undefined, string | null>;
}

export type ApiKeyScope = 'read' | 'write' | 'admin';

/** An API key: only its SHA-256 is kept; the key itself is shown once, when it is created. */
export interface ApiKeysTable {
  id: string;
  /** The key's first characters (`mh_` and 8 more): not secret, finds the row and names the key. */
  prefix: string;
  /** Hex SHA-256 of the whole key. */
  keyHash: string;
  scope: ApiKeyScope;
  name: string | null;
  createdAt: string;
  /** Updated at most once a minute per key, not on every request. */
  lastUsedAt: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface Database {
  modelRepos: ModelReposTable;
  artifacts: ArtifactsTable;
  jobs: JobsTable;
  jobLogs: JobLogsTable;
  leases: LeasesTable;
  events: EventsTable;
  webhooks: WebhooksTable;
  webhookDeliveries: WebhookDeliveriesTable;
  apiKeys: ApiKeysTable;
}

export type ModelRepoRow = Selectable<ModelReposTable>;
export type NewModelRepo = Insertable<ModelReposTable>;
export type ArtifactRow = Selectable<ArtifactsTable>;
export type NewArtifact = Insertable<ArtifactsTable>;
export type ArtifactUpdate = Updateable<ArtifactsTable>;
export type JobRow = Selectable<JobsTable>;
export type EventRow = Selectable<EventsTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
