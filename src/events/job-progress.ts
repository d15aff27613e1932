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
}

/**
 * A job changing workers because its holder's lease lapsed: `from` that worker (`host:pid:nonce`),
 * `to` the worker that claimed it next, null while the job waits for one.
 */
export interface Takeover {
  from: string;
  to: string | null;
}

/** The data of a `job.progress` event: a snapshot, the job's status, and a takeover when one happened. */
export type ProgressEventData = ProgressSnapshot & {
  status: 'pending' | 'running';
  takeover?: Takeover;
};

export type ProgressFlush = (snapshot: ProgressSnapshot) => Promise<void>;

/** Speed is measured over this trailing window, so it follows changes without jumping per chunk. */
const SPEED_WINDOW_MS = 5000;
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
  /** Bytes received from upstream by this job; only these count towards speed. */
  private transferred = 0;
  private readonly current = new Map<string, CurrentFile>();
  private readonly samples: { at: number; transferred: number }[];
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
    this.samples = [{ at: this.lastFlushAt, transferred: 0 }];
  }

  /** Adds files to the job's total (a sync learns its files after listing the repo). */
  plan(files: number, bytes: number): void {
    this.filesTotal += files;
    this.bytesTotal += bytes;
    this.changed();
  }

  fileStarted(artifactId: string, path: string, size: number): void {
    this.current.set(artifactId, { artifact_id: artifactId, path, size, bytes_done: 0 });
    this.changed();
  }

  /** `bytesDone`: how much of the file is on disk, resumed prefix included. */
  fileProgress(artifactId: string, bytesDone: number, receivedNow: number): void {
    const file = this.current.get(artifactId);
    if (!file) return;
    file.bytes_done = bytesDone;
    this.transferred += receivedNow;
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
    const bytesDone =
      this.bytesOfFinishedFiles + [...this.current.values()].reduce((sum, f) => sum + f.bytes_done, 0);
    const speed = this.speed();
    const remaining = Math.max(0, this.bytesTotal - bytesDone);
    return {
      files_total: this.filesTotal,
      files_done: this.filesDone,
      files_failed: this.filesFailed,
      bytes_total: this.bytesTotal,
      bytes_done: bytesDone,
      bytes_per_second: Math.round(speed),
      eta_seconds: remaining === 0 ? 0 : speed > 0 ? Math.ceil(remaining / speed) : null,
      current_files: [...this.current.values()].slice(0, MAX_LISTED_CURRENT_FILES).map((f) => ({ ...f })),
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
    this.samples.push({ at, transferred: this.transferred });
    while (this.samples.length > 2 && (this.samples[1]?.at ?? at) <= at - SPEED_WINDOW_MS)
      this.samples.shift();
    const snapshot = this.snapshot();
    this.flushing = this.flushing.then(() => this.flush(snapshot)).catch(() => undefined);
  }

  private speed(): number {
    const first = this.samples[0];
    const at = this.now();
    if (!first || at <= first.at) return 0;
    return ((this.transferred - first.transferred) * 1000) / (at - first.at);
  }
}
