import path from 'node:path';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import type { JobView } from '../services/jobs.service.js';
import type { ArtifactWire, JobWire, ModelWire } from './schemas.js';

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

export function presentJob(j: JobView): JobWire {
  return {
    id: j.id,
    type: j.type,
    status: j.status,
    payload: j.payload,
    result: j.result,
    logs: j.logs.map((line) => `${line.at} ${line.message}`),
    error: j.error,
    progress: j.progress,
    attempts: j.attempts,
    worker: j.worker,
    created_at: j.createdAt,
    updated_at: j.updatedAt,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
  };
}
