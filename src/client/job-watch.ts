import { secondsLeft } from '../format/units.js';
import type { HubEvent, JobStatus, JobType, JobWire, ProgressWire } from './wire.js';

/**
 * What `watch` knows about one job, rebuilt event by event by a pure reducer so the TTY bars, the
 * plain-line output and the tests all read the same view. `job.progress` snapshots are the authority
 * for counters; between two snapshots the artifact events keep them moving, and the next snapshot
 * corrects any drift. A replayed stream of a finished job (no snapshots at all) still adds up, since
 * every artifact event counts its file.
 */
export interface FileProgress {
  artifactId: string;
  path: string;
  sizeBytes: number;
  bytesDone: number;
  /** Its own speed (null from hubs that measure per job only). */
  bytesPerSecond: number | null;
}

export type FileSource = 'downloaded' | 'deduplicated' | 'present' | 'imported';

/** A line-worthy happening, carried by the state only for the event that caused it. */
export type WatchNotice =
  | { kind: 'file-completed'; path: string; sizeBytes: number; source: FileSource }
  | { kind: 'file-failed'; path: string; error: string }
  | { kind: 'model-synced'; sync: SyncOutcome }
  | { kind: 'takeover'; from: string; to: string | null }
  | { kind: 'upstream-retry'; message: string };

export interface SyncOutcome {
  repoId: string | null;
  commit: string;
  files: number;
  created: number;
  changed: number;
  removed: number;
}

export interface WatchState {
  jobId: string;
  jobType: JobType | null;
  status: JobStatus;
  createdAt: string | null;
  finishedAt: string | null;
  /** True once a `job.progress` snapshot arrived: counters and speed come from the hub. */
  progressKnown: boolean;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  bytesTotal: number;
  bytesDone: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  currentFiles: FileProgress[];
  sources: Record<FileSource, number>;
  sync: SyncOutcome | null;
  error: string | null;
  result: unknown;
  /** Highest durable event id applied (the stream drops repeats, see job-events.ts). */
  lastEventId: number | null;
  /**
   * Files whose end was reported, by artifact id: a snapshot taken before that report may arrive
   * after it, and must neither bring the file's bar back nor move the counters backwards.
   */
  finishedFiles: ReadonlyMap<string, FinishedFile>;
  /** What the last applied event adds to a log; empty for snapshots and ignored events. */
  notices: WatchNotice[];
  /**
   * The last takeover announced (`from>to`): a stream opened late, or reopened, repeats it in its
   * first snapshot, and it is said once.
   */
  lastTakeover: string | null;
}

export interface FinishedFile {
  ok: boolean;
  sizeBytes: number;
}

export function initialWatchState(jobId: string): WatchState {
  return {
    jobId,
    jobType: null,
    status: 'pending',
    createdAt: null,
    finishedAt: null,
    progressKnown: false,
    filesTotal: 0,
    filesDone: 0,
    filesFailed: 0,
    bytesTotal: 0,
    bytesDone: 0,
    bytesPerSecond: 0,
    etaSeconds: null,
    currentFiles: [],
    sources: { downloaded: 0, deduplicated: 0, present: 0, imported: 0 },
    sync: null,
    error: null,
    result: null,
    lastEventId: null,
    finishedFiles: new Map(),
    notices: [],
    lastTakeover: null,
  };
}

/** The state as `GET /v1/hub/jobs/{id}` shows the job, before any event arrives. */
export function stateFromJob(job: JobWire): WatchState {
  const state: WatchState = {
    ...initialWatchState(job.id),
    jobType: job.type,
    // Terminal statuses wait for their event (or `finishFromJob`) so the summary has the details.
    status: job.status === 'running' ? 'running' : 'pending',
    createdAt: job.created_at,
  };
  // A finished job's events are all replayed; its final progress would only run ahead of them.
  return job.progress && job.status === 'running' ? applySnapshot(state, job.progress) : state;
}

export function isFinished(state: WatchState): boolean {
  return isEnded(state.status);
}

/** Whether a job in `status` has ended (completed, failed or cancelled). */
export function isEnded(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** 0 for a completed job, 1 for anything else (failed, cancelled, or watching stopped before the end). */
export function exitCodeFor(state: WatchState): number {
  return state.status === 'completed' ? 0 : 1;
}

export function reduceJobEvent(state: WatchState, event: HubEvent): WatchState {
  const quiet = state.notices.length === 0 ? state : { ...state, notices: [] };
  if (event.job_id !== null && event.job_id !== state.jobId) return quiet;
  if (isFinished(state)) return quiet;
  const lastEventId =
    event.id === null ? state.lastEventId : Math.max(event.id, state.lastEventId ?? event.id);
  const next = applyEvent({ ...quiet, lastEventId }, event);
  const allBytesDone = next.bytesTotal > 0 && next.bytesDone >= next.bytesTotal;
  return withEta({
    ...next,
    filesDone: next.filesTotal > 0 ? Math.min(next.filesDone, next.filesTotal) : next.filesDone,
    bytesDone: allBytesDone ? next.bytesTotal : next.bytesDone,
    // The last snapshot's ETA is stale once the final bytes are in.
    etaSeconds: allBytesDone ? 0 : next.etaSeconds,
  });
}

/**
 * The ETA is what is left at the current speed, recomputed whenever either moves (a finished file
 * takes its speed out of the job's at once, not a second later with the next snapshot).
 */
function withEta(state: WatchState): WatchState {
  if (isFinished(state) || state.status !== 'running' || state.bytesTotal <= 0) return state;
  return { ...state, etaSeconds: secondsLeft(state.bytesTotal - state.bytesDone, state.bytesPerSecond) };
}

/**
 * Ends the watch from the job row when the stream has no terminal event to replay (a job finished
 * before its hub recorded events). A no-op unless the job is finished and the state is not.
 */
export function finishFromJob(state: WatchState, job: JobWire): WatchState {
  if (isFinished(state) || !isEnded(job.status)) return state;
  const ended: WatchState = {
    ...(job.progress ? applySnapshot(state, job.progress) : state),
    notices: [],
    status: job.status,
    finishedAt: job.finished_at,
    error: job.error,
    result: job.result,
    currentFiles: [],
    etaSeconds: 0,
  };
  return applyResultCounts(ended);
}

function applyEvent(state: WatchState, event: HubEvent): WatchState {
  switch (event.type) {
    case 'job.created':
      return { ...state, jobType: event.data.type, createdAt: event.at };
    case 'job.progress': {
      const { takeover } = event.data;
      if (takeover) {
        // Pending while the job waits for another worker, running once one claimed it.
        const status = event.data.status === 'pending' ? 'pending' : 'running';
        const key = `${takeover.from}>${takeover.to ?? ''}`;
        const notices: WatchNotice[] =
          key === state.lastTakeover ? [] : [{ kind: 'takeover', from: takeover.from, to: takeover.to }];
        return applySnapshot({ ...state, status, notices, lastTakeover: key }, event.data);
      }
      // Only the terminal events end a watch: they carry the result and the error.
      const status = event.data.status === 'running' ? 'running' : state.status;
      const { retry } = event.data;
      const notices: WatchNotice[] = retry ? [{ kind: 'upstream-retry', message: retry.message }] : [];
      return applySnapshot({ ...state, status, notices }, event.data);
    }
    case 'artifact.completed': {
      const tracked = state.currentFiles.find((f) => f.artifactId === event.artifact_id);
      const { path, size, source } = event.data;
      return {
        ...state,
        status: 'running',
        currentFiles: withoutFile(state.currentFiles, event.artifact_id),
        finishedFiles: withFinished(state.finishedFiles, event.artifact_id, { ok: true, sizeBytes: size }),
        bytesPerSecond: withoutSpeedOf(state.bytesPerSecond, tracked),
        filesDone: state.filesDone + 1,
        bytesDone: state.bytesDone + size - (tracked?.bytesDone ?? 0),
        sources: { ...state.sources, [source]: state.sources[source] + 1 },
        notices: [{ kind: 'file-completed', path, sizeBytes: size, source }],
      };
    }
    case 'artifact.failed':
      return {
        ...state,
        status: 'running',
        currentFiles: withoutFile(state.currentFiles, event.artifact_id),
        finishedFiles: withFinished(state.finishedFiles, event.artifact_id, { ok: false, sizeBytes: 0 }),
        bytesPerSecond: withoutSpeedOf(
          state.bytesPerSecond,
          state.currentFiles.find((f) => f.artifactId === event.artifact_id),
        ),
        filesFailed: state.filesFailed + 1,
        notices: [{ kind: 'file-failed', path: event.data.path, error: event.data.error }],
      };
    case 'model.synced': {
      const { repo_id, commit, files, created, changed, removed } = event.data;
      const sync: SyncOutcome = { repoId: repo_id, commit, files, created, changed, removed };
      return { ...state, sync, notices: [{ kind: 'model-synced', sync }] };
    }
    case 'job.completed':
    case 'job.failed':
    case 'job.cancelled':
      return applyResultCounts({
        ...state,
        jobType: event.data.type,
        status:
          event.type === 'job.completed' ? 'completed' : event.type === 'job.failed' ? 'failed' : 'cancelled',
        finishedAt: event.at,
        error: event.type === 'job.failed' ? event.data.error : null,
        result: event.data.result ?? null,
        currentFiles: [],
        etaSeconds: 0,
      });
  }
}

function applySnapshot(state: WatchState, progress: ProgressWire): WatchState {
  // Files the snapshot still shows in flight that were reported finished after it was taken.
  let lateDone = 0;
  let lateFailed = 0;
  let lateBytes = 0;
  let lateSpeed = 0;
  const inFlight: FileProgress[] = [];
  for (const f of progress.current_files) {
    const finished = state.finishedFiles.get(f.artifact_id);
    if (finished === undefined) {
      inFlight.push({
        artifactId: f.artifact_id,
        path: f.path,
        sizeBytes: f.size,
        bytesDone: f.bytes_done,
        bytesPerSecond: f.bytes_per_second ?? null,
      });
    } else if (finished.ok) {
      lateSpeed += f.bytes_per_second ?? 0;
      lateDone++;
      lateBytes += finished.sizeBytes - f.bytes_done;
    } else {
      lateSpeed += f.bytes_per_second ?? 0;
      lateFailed++;
      lateBytes -= f.bytes_done;
    }
  }
  return {
    ...state,
    progressKnown: true,
    filesTotal: progress.files_total,
    filesDone: progress.files_done + lateDone,
    filesFailed: progress.files_failed + lateFailed,
    bytesTotal: progress.bytes_total,
    bytesDone: progress.bytes_done + lateBytes,
    bytesPerSecond: Math.max(0, progress.bytes_per_second - lateSpeed),
    etaSeconds: progress.eta_seconds,
    currentFiles: inFlight,
  };
}

/** A finished job's own result is the final word on its counts. */
function applyResultCounts(state: WatchState): WatchState {
  const download = downloadResultOf(state.result);
  const sync = state.sync ?? syncOutcomeOf(state.result);
  let next: WatchState = { ...state, sync };
  if (download) {
    next = {
      ...next,
      filesTotal: download.artifacts,
      filesFailed: download.failed,
      filesDone: download.artifacts - download.failed,
      sources: {
        downloaded: download.downloaded,
        deduplicated: download.deduplicated,
        present: download.already_present,
        imported: 0,
      },
    };
  }
  if (next.status === 'completed') {
    if (next.bytesTotal > 0) next = { ...next, bytesDone: next.bytesTotal };
    else next = { ...next, bytesTotal: next.bytesDone };
  }
  return next;
}

export interface DownloadResultCounts {
  artifacts: number;
  downloaded: number;
  deduplicated: number;
  already_present: number;
  failed: number;
  bytes_downloaded: number;
}

export function downloadResultOf(result: unknown): DownloadResultCounts | null {
  const keys = ['artifacts', 'downloaded', 'deduplicated', 'already_present', 'failed', 'bytes_downloaded'];
  if (!isRecord(result) || !keys.every((key) => typeof result[key] === 'number')) return null;
  return result as unknown as DownloadResultCounts;
}

function syncOutcomeOf(result: unknown): SyncOutcome | null {
  const keys = ['files', 'created', 'changed', 'removed'];
  if (!isRecord(result) || typeof result.commit !== 'string') return null;
  if (!keys.every((key) => typeof result[key] === 'number')) return null;
  const { commit, files, created, changed, removed } = result as unknown as Omit<SyncOutcome, 'repoId'>;
  return { repoId: null, commit, files, created, changed, removed };
}

/**
 * A late snapshot lists at most the files that were in flight a moment ago: the last few reports
 * are enough to correct it, and a job of 10,000 files does not copy a map of 10,000 per event.
 */
const FINISHED_FILES_KEPT = 64;

function withFinished(
  finished: ReadonlyMap<string, FinishedFile>,
  artifactId: string | null,
  file: FinishedFile,
): ReadonlyMap<string, FinishedFile> {
  if (artifactId === null) return finished;
  const kept = [...finished].slice(-(FINISHED_FILES_KEPT - 1));
  return new Map([...kept, [artifactId, file]]);
}

/** The job's speed without that of a file that just ended (unchanged when its speed is unknown). */
function withoutSpeedOf(jobSpeed: number, file: FileProgress | undefined): number {
  return Math.max(0, jobSpeed - (file?.bytesPerSecond ?? 0));
}

function withoutFile(files: FileProgress[], artifactId: string | null): FileProgress[] {
  return artifactId === null ? files : files.filter((f) => f.artifactId !== artifactId);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
