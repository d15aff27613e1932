import { secondsLeft } from '../format/units.js';

/** A job's progress as the API, the job row and `job.progress` events show it. */
export interface ProgressSnapshot {
  files_total: number;
  files_done: number;
  files_failed: number;
  bytes_total: number;
  bytes_done: number;
  bytes_per_second: number;
  eta_seconds: number | null;
  current_files: CurrentFile[];
}

export interface CurrentFile {
  artifact_id: string;
  path: string;
  size: number;
  bytes_done: number;
  /** Bytes of this file received from upstream per second, over the last few seconds. */
  bytes_per_second: number;
}

/**
 * A job changing workers because its holder's lease lapsed: `from` that worker (`host:pid:nonce`),
 * `to` the worker that claimed it next, null while the job waits for one.
 */
export interface Takeover {
  from: string;
  to: string | null;
}

/**
 * An upstream request made for the job failed and is tried again after `delay_ms`: `attempt` of
 * `max_retries` (UPSTREAM_MAX_RETRIES). `message` is the line written in the job's log, e.g.
 * `upstream unreachable (ECONNREFUSED), retry 2/5 in 4 s (model info for org/name@main)`.
 */
export interface RetryNotice {
  message: string;
  attempt: number;
  max_retries: number;
  delay_ms: number;
}

/**
 * The data of a `job.progress` event: a snapshot, the job's status, and a takeover or an upstream
 * retry when one happened.
 */
export type ProgressEventData = ProgressSnapshot & {
  status: 'pending' | 'running';
  takeover?: Takeover;
  retry?: RetryNotice;
};

export type ProgressFlush = (snapshot: ProgressSnapshot) => Promise<void>;

/**
 * Speed is measured per file over this trailing window, so it follows changes without jumping per
 * chunk; the job's speed is the sum over the files still in flight, so a file that ends stops
 * counting at once (a fast file finishing leaves the slow one's speed, not the average of both).
 */
const SPEED_WINDOW_MS = 3000;
const MAX_LISTED_CURRENT_FILES = 20;

export function emptyProgress(filesTotal = 0, bytesTotal = 0): ProgressSnapshot {
  return {
    files_total: filesTotal,
    files_done: 0,
    files_failed: 0,
    bytes_total: bytesTotal,
    bytes_done: 0,
    bytes_per_second: 0,
    eta_seconds: null,
    current_files: [],
  };
}

/**
 * Counts a job's files and bytes in memory as chunks arrive, and hands a snapshot to `flush` at most
 * once per `intervalMs` (the last change is always flushed, trailing): a download writes its job row
 * about once a second however many chunks it receives.
 */
export class JobProgress {
  private filesTotal = 0;
  private bytesTotal = 0;
  private filesDone = 0;
  private filesFailed = 0;
  private bytesOfFinishedFiles = 0;
  private readonly current = new Map<string, InFlight>();
  /** A job that ends within its first interval writes only its final state, with the job row. */
  private lastFlushAt: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly flush: ProgressFlush,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.lastFlushAt = now();
  }

  /** Adds files to the job's total (a sync learns its files after listing the repo). */
  plan(files: number, bytes: number): void {
    this.filesTotal += files;
    this.bytesTotal += bytes;
    this.changed();
  }

  fileStarted(artifactId: string, path: string, size: number): void {
    const file = { artifact_id: artifactId, path, size, bytes_done: 0 };
    this.current.set(artifactId, { file, received: 0, samples: [{ at: this.now(), received: 0 }] });
    this.changed();
  }

  /**
   * `bytesDone`: how much of the file is on disk, resumed prefix included; `receivedNow`: the bytes
   * just received from upstream (only these count towards speed).
   */
  fileProgress(artifactId: string, bytesDone: number, receivedNow: number): void {
    const inFlight = this.current.get(artifactId);
    if (!inFlight) return;
    inFlight.file.bytes_done = bytesDone;
    inFlight.received += receivedNow;
    this.changed();
  }

  fileFinished(artifactId: string, outcome: { ok: boolean; size: number }): void {
    this.current.delete(artifactId);
    if (outcome.ok) {
      this.filesDone++;
      this.bytesOfFinishedFiles += outcome.size;
    } else {
      this.filesFailed++;
    }
    this.changed();
  }

  snapshot(): ProgressSnapshot {
    const at = this.now();
    const inFlight = [...this.current.values()];
    const files = inFlight.map((f) => ({ ...f.file, bytes_per_second: Math.round(fileSpeed(f, at)) }));
    const bytesDone = this.bytesOfFinishedFiles + files.reduce((sum, f) => sum + f.bytes_done, 0);
    const speed = files.reduce((sum, f) => sum + f.bytes_per_second, 0);
    return {
      files_total: this.filesTotal,
      files_done: this.filesDone,
      files_failed: this.filesFailed,
      bytes_total: this.bytesTotal,
      bytes_done: bytesDone,
      bytes_per_second: speed,
      eta_seconds: secondsLeft(this.bytesTotal - bytesDone, speed),
      current_files: files.slice(0, MAX_LISTED_CURRENT_FILES),
    };
  }

  /** Stops the timer and waits for a flush in progress; the caller writes the final state itself. */
  async close(): Promise<ProgressSnapshot> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    return this.snapshot();
  }

  private changed(): void {
    if (this.closed || this.timer) return;
    const delay = Math.max(0, this.lastFlushAt + this.intervalMs - this.now());
    this.timer = setTimeout(() => this.flushNow(), delay);
    this.timer.unref();
  }

  private flushNow(): void {
    this.timer = undefined;
    if (this.closed) return;
    const at = this.now();
    this.lastFlushAt = at;
    for (const inFlight of this.current.values()) {
      const { samples } = inFlight;
      samples.push({ at, received: inFlight.received });
      // Keeps one sample at or before the window's start, so the window is always covered.
      while (samples.length > 2 && (samples[1]?.at ?? at) <= at - SPEED_WINDOW_MS) samples.shift();
    }
    const snapshot = this.snapshot();
    this.flushing = this.flushing.then(() => this.flush(snapshot)).catch(() => undefined);
  }
}

interface InFlight {
  file: Omit<CurrentFile, 'bytes_per_second'>;
  /** Bytes of it received from upstream by this job. */
  received: number;
  /** What had been received at each flush since the file started, trimmed to the speed window. */
  samples: { at: number; received: number }[];
}

function fileSpeed(inFlight: InFlight, at: number): number {
  const first = inFlight.samples[0];
  if (!first || at <= first.at) return 0;
  return ((inFlight.received - first.received) * 1000) / (at - first.at);
}
