import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table shapes as TypeScript sees them (camelCase; the CamelCasePlugin maps them to the
 * snake_case columns). Portable on purpose: text ids made in the app, integer sizes, ISO-8601
 * UTC timestamps as text, JSON as text behind `db/json.ts`.
 */
export type ModelStatus = 'registered' | 'syncing' | 'synced' | 'error';
export type FileType = 'model' | 'config' | 'tokenizer' | 'other';
export type DownloadStatus = 'pending' | 'downloading' | 'completed' | 'failed';
export type JobType = 'sync' | 'download' | 'scan';
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed';

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

export interface Database {
  modelRepos: ModelReposTable;
  artifacts: ArtifactsTable;
  jobs: JobsTable;
  jobLogs: JobLogsTable;
  leases: LeasesTable;
}

export type ModelRepoRow = Selectable<ModelReposTable>;
export type NewModelRepo = Insertable<ModelReposTable>;
export type ArtifactRow = Selectable<ArtifactsTable>;
export type NewArtifact = Insertable<ArtifactsTable>;
export type ArtifactUpdate = Updateable<ArtifactsTable>;
export type JobRow = Selectable<JobsTable>;
