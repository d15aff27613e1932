import type {
  CurrentFileWire,
  HubEvent,
  JobStatus,
  JobWire,
  ProgressWire,
  RetryWire,
  TakeoverWire,
} from '../../src/client/wire.js';

/** Synthetic hub events for the client tests, shaped exactly like the SSE `data:` JSON. */
export const JOB_ID = '3f1b6a52-7d0c-4a55-9a43-1c2d3e4f5a6b';
export const MiB = 1024 * 1024;

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
/** ISO time `seconds` after the job was created. */
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

let nextId = 1;
export function resetIds(start = 1): void {
  nextId = start;
}

const envelope = (seconds: number, artifactId: string | null = null) => ({
  id: nextId++,
  at: at(seconds),
  job_id: JOB_ID,
  model_id: 'b2a1c3d4-0000-4000-8000-000000000001',
  artifact_id: artifactId,
});

export function jobCreated(type: 'sync' | 'download' | 'scan' = 'download'): HubEvent {
  return { ...envelope(0), type: 'job.created', data: { type, status: 'pending' } };
}

export function file(
  artifactId: string,
  path: string,
  size: number,
  bytesDone: number,
  bytesPerSecond?: number,
): CurrentFileWire {
  return {
    artifact_id: artifactId,
    path,
    size,
    bytes_done: bytesDone,
    ...(bytesPerSecond === undefined ? {} : { bytes_per_second: bytesPerSecond }),
  };
}

export function progress(
  seconds: number,
  snapshot: Partial<ProgressWire & { status: JobStatus; takeover: TakeoverWire; retry: RetryWire }>,
): HubEvent {
  return {
    id: null,
    at: at(seconds),
    job_id: JOB_ID,
    model_id: null,
    artifact_id: null,
    type: 'job.progress',
    data: {
      status: 'running',
      files_total: 0,
      files_done: 0,
      files_failed: 0,
      bytes_total: 0,
      bytes_done: 0,
      bytes_per_second: 0,
      eta_seconds: null,
      current_files: [],
      ...snapshot,
    },
  };
}

export function artifactCompleted(
  seconds: number,
  artifactId: string,
  path: string,
  size: number,
  source: 'downloaded' | 'deduplicated' | 'present' = 'downloaded',
): HubEvent {
  return {
    ...envelope(seconds, artifactId),
    type: 'artifact.completed',
    data: {
      path,
      size,
      sha256: 'ab'.repeat(32),
      source,
      bytes_downloaded: source === 'downloaded' ? size : 0,
    },
  };
}

export function artifactFailed(seconds: number, artifactId: string, path: string, error: string): HubEvent {
  return { ...envelope(seconds, artifactId), type: 'artifact.failed', data: { path, error } };
}

export function modelSynced(seconds: number, repoId: string, commit: string, files: number): HubEvent {
  return {
    ...envelope(seconds),
    type: 'model.synced',
    data: { repo_id: repoId, commit, files, created: files, changed: 0, removed: 0 },
  };
}

export function jobCompleted(
  seconds: number,
  result: unknown,
  type: 'sync' | 'download' | 'scan' = 'download',
): HubEvent {
  return { ...envelope(seconds), type: 'job.completed', data: { type, result } };
}

export function jobFailed(
  seconds: number,
  error: string,
  result: unknown = null,
  type: 'sync' | 'download' | 'scan' = 'download',
): HubEvent {
  return { ...envelope(seconds), type: 'job.failed', data: { type, error, result } };
}

export function downloadResult(counts: {
  downloaded?: number;
  deduplicated?: number;
  already_present?: number;
  failed?: number;
  bytes_downloaded?: number;
}) {
  const { downloaded = 0, deduplicated = 0, already_present = 0, failed = 0, bytes_downloaded = 0 } = counts;
  return {
    artifacts: downloaded + deduplicated + already_present + failed,
    downloaded,
    deduplicated,
    already_present,
    failed,
    bytes_downloaded,
  };
}

export function jobRow(overrides: Partial<JobWire> = {}): JobWire {
  return {
    id: JOB_ID,
    type: 'download',
    status: 'running',
    payload: {},
    result: null,
    logs: [],
    error: null,
    attempts: 1,
    worker: null,
    created_at: at(0),
    updated_at: at(1),
    started_at: at(0.5),
    finished_at: null,
    ...overrides,
  };
}

/** A progress event of the two-file job the display tests watch: 4 MiB done, then the 8 MiB file. */
export const snapshot = (seconds: number, bytesDone: number, extra: Parameters<typeof progress>[1] = {}) =>
  progress(seconds, {
    files_total: 2,
    files_done: bytesDone >= 4 * MiB ? 1 : 0,
    bytes_total: 12 * MiB,
    bytes_done: bytesDone,
    bytes_per_second: 2 * MiB,
    eta_seconds: Math.ceil((12 * MiB - bytesDone) / (2 * MiB)),
    current_files: [file('a2', 'weights/model.safetensors', 8 * MiB, Math.max(0, bytesDone - 4 * MiB))],
    ...extra,
  });
