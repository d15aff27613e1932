/**
 * The hub's HTTP API as the CLI sees it (snake_case, as on the wire). Written out here rather than
 * imported from `http/` because the CLI is a client of the API: it must keep working against any hub
 * that speaks this contract, not only the server built from the same tree.
 */
export type JobType = 'sync' | 'download' | 'scan' | 'gc' | 'import';
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface ApiErrorBody {
  error: { code: string; message: string; request_id?: string };
}

export interface ModelWire {
  id: string;
  vendor: string;
  name: string;
  repo_id: string;
  revision: string;
  commit_sha: string | null;
  status: 'registered' | 'syncing' | 'synced' | 'error';
  error: string | null;
  last_synced_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface RegisteredModelWire extends ModelWire {
  sync_job_id?: string;
}

export interface ModelPage {
  items: ModelWire[];
  /** Not sent by every hub version: absent means everything came in one page. */
  next_cursor?: string | null;
}

export interface ArtifactWire {
  id: string;
  model_id: string;
  path: string;
  size: number;
  file_type: 'model' | 'config' | 'tokenizer' | 'other';
  download_status: 'pending' | 'downloading' | 'completed' | 'failed';
  sha256: string | null;
  upstream_sha256: string | null;
  upstream_oid: string | null;
  commit_sha: string | null;
  local_path: string | null;
  bytes_downloaded: number;
  error: string | null;
  removed_upstream: boolean;
  created_at: string;
  updated_at: string;
}

export interface CurrentFileWire {
  artifact_id: string;
  path: string;
  size: number;
  bytes_done: number;
  /** Absent from hubs that measure speed per job only. */
  bytes_per_second?: number;
}

export interface ProgressWire {
  files_total: number;
  files_done: number;
  files_failed: number;
  bytes_total: number;
  bytes_done: number;
  bytes_per_second: number;
  eta_seconds: number | null;
  current_files: CurrentFileWire[];
}

/**
 * On a `job.progress` event when a job changes workers because its holder's lease lapsed: `from`
 * that worker, `to` the one that claimed it next (null while the job waits for one). Absent on
 * older hubs.
 */
export interface TakeoverWire {
  from: string;
  to: string | null;
}

/**
 * On a `job.progress` event when an upstream request of the job failed and is tried again: the
 * job's log line (`upstream answered 503, retry 1/5 in 1 s (…)`), which retry of how many, and the
 * wait before it. Absent on older hubs.
 */
export interface RetryWire {
  message: string;
  attempt: number;
  max_retries: number;
  delay_ms: number;
}

/** A job as `GET /v1/hub/jobs` lists it: without its logs. */
export interface JobSummaryWire {
  id: string;
  type: JobType;
  status: JobStatus;
  payload: unknown;
  result: unknown;
  error: string | null;
  attempts: number;
  worker: string | null;
  /** Sent by hubs that track progress; absent on older ones. */
  progress?: ProgressWire | null;
  /** The job this one retries; absent on hubs without retry. */
  retry_of?: string | null;
  /** When a cancel was asked for; absent on hubs without cancel. */
  cancel_requested_at?: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** One job as `GET /v1/hub/jobs/{id}` shows it. */
export interface JobWire extends JobSummaryWire {
  /** Lines "<ISO time> <message>", oldest first; one "… N lines dropped …" line where the hub cut a long log. */
  logs: string[];
}

export interface JobPage {
  items: JobSummaryWire[];
  next_cursor: string | null;
}

/** `GET /v1/hub/jobs/{id}/logs`. */
export interface JobLogPage {
  items: string[];
  next_cursor: string | null;
  dropped_lines: number;
}

export interface JobAcceptedWire {
  job_id: string;
  status: JobStatus;
  message: string;
}

export interface RegisterRequest {
  vendor: string;
  name: string;
  source_repo_id: string;
  revision?: string;
  auto_sync?: boolean;
  /** false: register without asking upstream whether the repo exists (default true). */
  verify?: boolean;
}

export interface RepoDownloadRequest {
  repo_id: string;
  include?: string[];
  exclude?: string[];
}

export interface ImportRequest {
  /** Absolute path on the hub's machine. */
  path: string;
  repo_id?: string;
}

export type KeyScope = 'read' | 'write' | 'admin';

export interface ApiKeyWire {
  id: string;
  prefix: string;
  scope: KeyScope;
  name: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface CreatedApiKeyWire extends ApiKeyWire {
  key: string;
}

export interface NewApiKeyRequest {
  scope: KeyScope;
  name?: string;
}

export interface JobListQuery {
  status?: string;
  type?: string;
  limit?: number;
}

/** Every event type of the SSE streams; `job.progress` is transient (no id, never replayed). */
export const HUB_EVENT_TYPES = [
  'job.created',
  'job.progress',
  'job.completed',
  'job.failed',
  'job.cancelled',
  'artifact.completed',
  'artifact.failed',
  'model.synced',
] as const;

export type HubEventType = (typeof HUB_EVENT_TYPES)[number];

interface EventEnvelope<T extends HubEventType, D> {
  id: number | null;
  type: T;
  at: string;
  job_id: string | null;
  model_id: string | null;
  artifact_id: string | null;
  data: D;
}

export type HubEvent =
  | EventEnvelope<'job.created', { type: JobType; status: JobStatus }>
  | EventEnvelope<
      'job.progress',
      ProgressWire & { status: JobStatus; takeover?: TakeoverWire; retry?: RetryWire }
    >
  | EventEnvelope<'job.completed', { type: JobType; result: unknown }>
  | EventEnvelope<'job.failed', { type: JobType; error: string; result: unknown }>
  | EventEnvelope<'job.cancelled', { type: JobType; stopped_by?: string; result: unknown }>
  | EventEnvelope<
      'artifact.completed',
      {
        path: string;
        size: number;
        sha256: string;
        source: 'downloaded' | 'deduplicated' | 'present' | 'imported';
        bytes_downloaded: number;
      }
    >
  | EventEnvelope<'artifact.failed', { path: string; error: string; code?: string }>
  | EventEnvelope<
      'model.synced',
      { repo_id: string; commit: string; files: number; created: number; changed: number; removed: number }
    >;
