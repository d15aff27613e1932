import path from 'node:path';
import type { JobLogLine } from '../db/jobs.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import type { ApiKey } from '../services/api-keys.service.js';
import type { JobDetailView, JobLogPage, JobView } from '../services/jobs.service.js';
import type {
  ApiKeyWireType,
  ArtifactWire,
  JobLogPageWire,
  JobSummaryWire,
  JobWire,
  ModelWire,
} from './schemas.js';

/** camelCase rows → snake_case wire objects: the one conversion point on the HTTP boundary. */
export function presentModel(m: ModelRepoRow): ModelWire {
  return {
    id: m.id,
    vendor: m.vendor,
    name: m.name,
    repo_id: m.repoId,
    revision: m.revision,
    commit_sha: m.commitSha,
    status: m.status,
    error: m.error,
    last_synced_at: m.lastSyncedAt,
    pinned: m.pinnedAt !== null,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}

export function presentArtifact(a: ArtifactRow, storeRoot: string): ArtifactWire {
  return {
    id: a.id,
    model_id: a.modelId,
    path: a.path,
    size: a.size,
    file_type: a.fileType,
    download_status: a.downloadStatus,
    sha256: a.sha256,
    upstream_sha256: a.upstreamSha256,
    upstream_oid: a.upstreamOid,
    commit_sha: a.commitSha,
    local_path: a.localPath === null ? null : path.join(storeRoot, a.localPath),
    bytes_downloaded: a.bytesDownloaded,
    error: a.error,
    removed_upstream: a.removedAt !== null,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

export function presentJob(j: JobView): JobSummaryWire {
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    payload: j.payload,
    result: j.result,
    error: j.error,
    progress: j.progress,
    attempts: j.attempts,
    worker: j.worker,
    retry_of: j.retryOf,
    cancel_requested_at: j.cancelRequestedAt,
    created_at: j.createdAt,
    updated_at: j.updatedAt,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
  };
}

export function presentJobDetail(j: JobDetailView): JobWire {
  return { ...presentJob(j), logs: j.logs.map(presentLogLine) };
}

export function presentJobLogPage(page: JobLogPage): JobLogPageWire {
  return {
    items: page.items.map(presentLogLine),
    next_cursor: page.nextCursor,
    dropped_lines: page.droppedLines,
  };
}

function presentLogLine(line: JobLogLine): string {
  return `${line.at} ${line.message}`;
}

export function presentApiKey(key: ApiKey): ApiKeyWireType {
  return {
    id: key.id,
    prefix: key.prefix,
    scope: key.scope,
    name: key.name,
    created_at: key.createdAt,
    last_used_at: key.lastUsedAt,
  };
}
