import { beforeEach, describe, expect, it } from 'vitest';
import {
  exitCodeFor,
  finishFromJob,
  initialWatchState,
  isFinished,
  reduceJobEvent,
  stateFromJob,
  type WatchState,
} from '../../src/client/job-watch.js';
import { describeProgress, summarizeJob } from '../../src/client/watch-text.js';
import type { HubEvent } from '../../src/client/wire.js';
import {
  artifactCompleted,
  artifactFailed,
  downloadResult,
  file,
  JOB_ID,
  jobCompleted,
  jobCreated,
  jobFailed,
  jobRow,
  MiB,
  modelSynced,
  progress,
  resetIds,
} from './event-fixtures.js';

const replay = (events: HubEvent[], from: WatchState = initialWatchState(JOB_ID)) =>
  events.reduce(reduceJobEvent, from);

beforeEach(() => resetIds());

describe('reduceJobEvent on a live download', () => {
  it('takes counters and files in flight from snapshots and moves them on between snapshots', () => {
    let state = replay([
      jobCreated(),
      progress(1, {
        files_total: 3,
        bytes_total: 12 * MiB,
        bytes_done: 3 * MiB,
        bytes_per_second: 2 * MiB,
        eta_seconds: 5,
        current_files: [
          file('a1', 'model.safetensors', 8 * MiB, 2 * MiB),
          file('a2', 'vae.pth', 3 * MiB, MiB),
        ],
      }),
    ]);
    expect(state).toMatchObject({
      jobType: 'download',
      status: 'running',
      filesTotal: 3,
      bytesDone: 3 * MiB,
    });
    expect(state.currentFiles.map((f) => [f.path, f.bytesDone])).toEqual([
      ['model.safetensors', 2 * MiB],
      ['vae.pth', MiB],
    ]);
    expect(describeProgress(state)).toBe('25% 3.0 MiB of 12.0 MiB, 0 of 3 files, 2.0 MiB/s, ETA 5 s');

    // vae.pth finishes before the next snapshot: its remaining 2 MiB count at once.
    state = reduceJobEvent(state, artifactCompleted(2, 'a2', 'vae.pth', 3 * MiB));
    expect(state).toMatchObject({ filesDone: 1, bytesDone: 5 * MiB });
    expect(state.currentFiles.map((f) => f.path)).toEqual(['model.safetensors']);
    expect(state.notices).toEqual([
      { kind: 'file-completed', path: 'vae.pth', sizeBytes: 3 * MiB, source: 'downloaded' },
    ]);

    state = reduceJobEvent(
      state,
      progress(3, {
        files_total: 3,
        files_done: 1,
        bytes_total: 12 * MiB,
        bytes_done: 9 * MiB,
        bytes_per_second: 3 * MiB,
        eta_seconds: 1,
        current_files: [file('a1', 'model.safetensors', 8 * MiB, 6 * MiB)],
      }),
    );
    expect(state.notices).toEqual([]);
    expect(describeProgress(state)).toBe('75% 9.0 MiB of 12.0 MiB, 1 of 3 files, 3.0 MiB/s, ETA 1 s');

    state = replay(
      [
        artifactCompleted(4, 'a1', 'model.safetensors', 8 * MiB),
        artifactCompleted(4, 'a3', 'config.json', MiB, 'present'),
      ],
      state,
    );
    expect(state).toMatchObject({ filesDone: 3, bytesDone: 12 * MiB, currentFiles: [] });
    expect(describeProgress(state)).toBe('100% 12.0 MiB of 12.0 MiB, 3 of 3 files, 3.0 MiB/s');

    state = reduceJobEvent(
      state,
      jobCompleted(4.2, downloadResult({ downloaded: 2, already_present: 1, bytes_downloaded: 11 * MiB })),
    );
    expect(isFinished(state)).toBe(true);
    expect(exitCodeFor(state)).toBe(0);
    expect(summarizeJob(state)).toBe(
      'Download job completed in 4.2 s: 3 files, 12.0 MiB (2 downloaded, 0 deduplicated, 1 already present)',
    );
  });

  it('never counts past the totals when a file completes that the last snapshot had already counted', () => {
    const state = replay([
      jobCreated(),
      progress(1, { files_total: 1, files_done: 1, bytes_total: 4 * MiB, bytes_done: 4 * MiB }),
      artifactCompleted(1, 'a1', 'only.bin', 4 * MiB),
    ]);
    expect(state).toMatchObject({ filesDone: 1, bytesDone: 4 * MiB });
  });

  it('applies events that arrive out of id order, ignores other jobs and anything after the end', () => {
    const created = jobCreated();
    const first = artifactCompleted(1, 'a1', 'a.json', 100);
    const second = artifactCompleted(2, 'a2', 'b.json', 200);
    const done = jobCompleted(3, downloadResult({ downloaded: 2, bytes_downloaded: 300 }));
    const otherJob = { ...artifactCompleted(2, 'x', 'other.bin', 999), job_id: 'another-job' };
    const state = replay([created, second, first, otherJob, done]);
    expect(state).toMatchObject({ filesDone: 2, bytesDone: 300, lastEventId: done.id });

    const late = artifactFailed(5, 'a3', 'late.bin', 'too late');
    const after = reduceJobEvent(state, late);
    expect(after).toMatchObject({ status: 'completed', filesFailed: 0, notices: [] });
  });

  it('does not end on a snapshot: only the terminal event carries the outcome', () => {
    const state = replay([jobCreated(), progress(1, { status: 'completed', files_total: 2 })]);
    expect(isFinished(state)).toBe(false);
    expect(state.filesTotal).toBe(2);
  });
});

describe('reduceJobEvent on a takeover', () => {
  it('goes back to pending with the counters kept, then runs on the new worker, one notice each', () => {
    const counters = {
      files_total: 1,
      bytes_total: 64 * MiB,
      bytes_done: 20 * MiB,
      current_files: [file('a1', 'model.safetensors', 64 * MiB, 20 * MiB)],
    };
    const running = replay([jobCreated(), progress(1, counters)]);
    const waiting = reduceJobEvent(
      running,
      progress(40, { ...counters, status: 'pending', takeover: { from: 'a:1:x', to: null } }),
    );
    expect(waiting).toMatchObject({
      status: 'pending',
      bytesDone: 20 * MiB,
      notices: [{ kind: 'takeover', from: 'a:1:x', to: null }],
    });
    expect(waiting.currentFiles).toHaveLength(1);
    const resumed = reduceJobEvent(
      waiting,
      progress(41, { ...counters, takeover: { from: 'a:1:x', to: 'b:2:y' } }),
    );
    expect(resumed).toMatchObject({
      status: 'running',
      bytesDone: 20 * MiB,
      notices: [{ kind: 'takeover', from: 'a:1:x', to: 'b:2:y' }],
    });
    expect(reduceJobEvent(resumed, progress(42, { ...counters, bytes_done: 24 * MiB }))).toMatchObject({
      status: 'running',
      bytesDone: 24 * MiB,
      notices: [],
    });
  });

  it('says a takeover once when a reopened stream repeats it in its snapshot, and says the next one', () => {
    const counters = { files_total: 1, bytes_total: 10, bytes_done: 4 };
    const taken = { ...counters, takeover: { from: 'a:1:x', to: 'b:2:y' } };
    const announced = replay([jobCreated(), progress(1, counters), progress(2, taken)]);
    expect(announced.notices).toEqual([{ kind: 'takeover', from: 'a:1:x', to: 'b:2:y' }]);
    const repeated = reduceJobEvent(announced, progress(3, { ...taken, bytes_done: 6 }));
    expect(repeated).toMatchObject({ bytesDone: 6, notices: [] });
    const again = reduceJobEvent(
      repeated,
      progress(4, { ...counters, takeover: { from: 'b:2:y', to: 'c:3:z' } }),
    );
    expect(again.notices).toEqual([{ kind: 'takeover', from: 'b:2:y', to: 'c:3:z' }]);
  });
});

describe('reduceJobEvent on an upstream retry', () => {
  it('keeps the counters of its snapshot and carries the retry as one notice', () => {
    const counters = { files_total: 3, files_done: 1, bytes_total: 300, bytes_done: 100 };
    const running = replay([jobCreated('sync'), progress(1, counters)]);
    const message = 'upstream answered 503, retry 1/5 in 1 s (config.json from byte 0)';
    const retrying = reduceJobEvent(
      running,
      progress(2, { ...counters, retry: { message, attempt: 1, max_retries: 5, delay_ms: 1000 } }),
    );
    expect(retrying).toMatchObject({
      status: 'running',
      filesDone: 1,
      bytesDone: 100,
      notices: [{ kind: 'upstream-retry', message }],
    });
    expect(reduceJobEvent(retrying, progress(3, counters)).notices).toEqual([]);
  });
});

describe('reduceJobEvent on a replay of a finished job (no snapshots)', () => {
  it('adds every file up from the artifact events and ends with the summary of the result', () => {
    const state = replay([
      jobCreated(),
      artifactCompleted(0.5, 'a1', 'config.json', 2048, 'present'),
      artifactCompleted(1, 'a2', 'model.safetensors', 8 * MiB, 'deduplicated'),
      artifactCompleted(2, 'a3', 'tokenizer.json', 1024),
      jobCompleted(
        2.5,
        downloadResult({ downloaded: 1, deduplicated: 1, already_present: 1, bytes_downloaded: 1024 }),
      ),
    ]);
    expect(state).toMatchObject({ filesTotal: 3, filesDone: 3, bytesDone: 8 * MiB + 3072 });
    expect(summarizeJob(state)).toBe(
      'Download job completed in 2.5 s: 3 files, 8.0 MiB (1 downloaded, 1 deduplicated, 1 already present)',
    );
  });
});

describe('reduceJobEvent on failures', () => {
  it('records the failed file and the job error, and decides exit code 1', () => {
    const state = replay([
      jobCreated(),
      progress(1, {
        files_total: 2,
        bytes_total: 2 * MiB,
        bytes_done: MiB / 2,
        current_files: [file('a1', 'ok.json', MiB, MiB / 2)],
      }),
      artifactCompleted(1, 'a1', 'ok.json', MiB),
      artifactFailed(2, 'a2', 'weights.bin', 'IntegrityError: expected sha256 aa…, got bb…'),
    ]);
    expect(state.notices).toEqual([
      { kind: 'file-failed', path: 'weights.bin', error: 'IntegrityError: expected sha256 aa…, got bb…' },
    ]);
    const failed = reduceJobEvent(
      state,
      jobFailed(
        3,
        '1 of 2 artifact(s) failed: weights.bin: IntegrityError',
        downloadResult({ downloaded: 1, failed: 1, bytes_downloaded: MiB }),
      ),
    );
    expect(failed).toMatchObject({
      status: 'failed',
      error: '1 of 2 artifact(s) failed: weights.bin: IntegrityError',
      filesDone: 1,
      filesFailed: 1,
    });
    expect(exitCodeFor(failed)).toBe(1);
    expect(summarizeJob(failed)).toBe(
      'Download job failed after 3.0 s: 1 of 2 files done, 1.0 MiB (1 downloaded, 0 deduplicated, 0 already present, 1 failed)',
    );
  });

  it('ends on job.cancelled with exit code 1 and what was done before the cancel', () => {
    const state = replay([
      jobCreated(),
      progress(1, {
        files_total: 2,
        bytes_total: 2 * MiB,
        bytes_done: 0,
        current_files: [file('a2', 'weights.bin', MiB, 0)],
      }),
      artifactCompleted(1, 'a1', 'ok.json', MiB),
      {
        ...jobCompleted(2, null),
        type: 'job.cancelled',
        data: { type: 'download', stopped_by: 'worker', result: null },
      },
      // Nothing after the end counts.
      artifactCompleted(3, 'a2', 'weights.bin', MiB),
    ]);
    expect(isFinished(state)).toBe(true);
    expect(state).toMatchObject({ status: 'cancelled', filesDone: 1, currentFiles: [], error: null });
    expect(exitCodeFor(state)).toBe(1);
    expect(summarizeJob(state)).toBe(
      'Download job cancelled after 2.0 s: 1 of 2 files done, 1.0 MiB (1 downloaded, 0 deduplicated, 0 already present)',
    );
  });

  it('ends a sync that failed without a result', () => {
    const state = replay([jobCreated('sync'), jobFailed(0.3, 'Repository x/y is gated', null, 'sync')]);
    expect(exitCodeFor(state)).toBe(1);
    expect(summarizeJob(state)).toBe('Sync job failed after 0.3 s');
  });
});

describe('sync jobs', () => {
  it('summarises what model.synced reported', () => {
    const state = replay([
      jobCreated('sync'),
      modelSynced(0.4, 'Wan-AI/Wan2.1', '0123456789abcdef0123', 7),
      jobCompleted(
        0.5,
        { commit: '0123456789abcdef0123', files: 7, created: 7, changed: 0, removed: 0 },
        'sync',
      ),
    ]);
    expect(summarizeJob(state)).toBe(
      'Sync job completed in 0.5 s: Wan-AI/Wan2.1 at 0123456789ab: 7 files (7 created, 0 changed, 0 removed)',
    );
  });

  it('falls back to the result when no model.synced event was seen', () => {
    const state = replay([
      jobCreated('sync'),
      jobCompleted(1, { commit: 'fedcba9876543210', files: 4, created: 1, changed: 2, removed: 1 }, 'sync'),
    ]);
    expect(summarizeJob(state)).toBe(
      'Sync job completed in 1.0 s: commit fedcba987654: 4 files (1 created, 2 changed, 1 removed)',
    );
  });
});

const progressOf = (files: number) => ({
  files_total: files,
  files_done: 0,
  files_failed: 0,
  bytes_total: files * MiB,
  bytes_done: 0,
  bytes_per_second: 0,
  eta_seconds: null,
  current_files: [],
});

describe('state from the job row', () => {
  it('starts from the progress the API reports', () => {
    const state = stateFromJob(
      jobRow({
        progress: {
          files_total: 4,
          files_done: 1,
          files_failed: 0,
          bytes_total: 10 * MiB,
          bytes_done: 5 * MiB,
          bytes_per_second: MiB,
          eta_seconds: 5,
          current_files: [file('a1', 'big.bin', 8 * MiB, 4 * MiB)],
        },
      }),
    );
    expect(state).toMatchObject({ status: 'running', progressKnown: true, bytesDone: 5 * MiB });
    expect(describeProgress(state)).toBe('50% 5.0 MiB of 10.0 MiB, 1 of 4 files, 1.0 MiB/s, ETA 5 s');
  });

  it('ends a finished job whose stream had no terminal event to replay', () => {
    const job = jobRow({
      status: 'failed',
      error: 'Repository gated/model is gated',
      finished_at: '2025-06-01T12:00:02.000Z',
      progress: { ...progressOf(3), files_done: 2 },
    });
    const start = stateFromJob(job);
    expect(start).toMatchObject({ status: 'pending', progressKnown: false, filesDone: 0 });
    const ended = finishFromJob(start, job);
    expect(ended).toMatchObject({ status: 'failed', error: 'Repository gated/model is gated', filesDone: 2 });
    expect(exitCodeFor(ended)).toBe(1);
    expect(summarizeJob(ended)).toMatch(/^Download job failed after 2\.0 s/);
    expect(finishFromJob(stateFromJob(jobRow()), jobRow())).toMatchObject({ status: 'running' });
  });
});
