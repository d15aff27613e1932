import { beforeEach, describe, expect, it } from 'vitest';
import { reduceJobEvent, stateFromJob, type WatchState } from '../../src/client/job-watch.js';
import { describeProgress, fileBarText, overallBarText } from '../../src/client/watch-text.js';
import type { HubEvent } from '../../src/client/wire.js';
import { artifactCompleted, file, JOB_ID, jobRow, MiB, progress, resetIds } from './event-fixtures.js';

/**
 * The numbers `download --wait` shows for 4 files of 8 MiB, three fast (4 MiB/s each) and one left
 * slow (2,000,000 B/s, like a throttled CDN edge): speed and ETA follow the bytes actually arriving.
 */
const SIZE = 8 * MiB;
const SLOW = 2_000_000;
const FAST = 4 * MiB;
const TOTAL = 4 * SIZE;

beforeEach(() => resetIds());

const apply = (state: WatchState, ...events: HubEvent[]) => events.reduce(reduceJobEvent, state);

function started(): WatchState {
  const job = jobRow({
    status: 'pending',
    progress: {
      files_total: 4,
      files_done: 0,
      files_failed: 0,
      bytes_total: TOTAL,
      bytes_done: 0,
      bytes_per_second: 0,
      eta_seconds: null,
      current_files: [],
    },
  });
  return stateFromJob({ ...job, status: 'running' });
}

describe('progress numbers of a download with one slow file', () => {
  it('knows the totals before the first frame', () => {
    const state = started();
    expect(overallBarText(state, 160)).toMatch(/ 0%\s+0 B\/32\.0 MiB\s+files 0\/4\s+0 B\/s\s+ETA \?$/);
  });

  it('speed is the sum of the files in flight, and drops to the slow one the moment the others end', () => {
    let state = apply(
      started(),
      progress(1, {
        files_total: 4,
        bytes_total: TOTAL,
        bytes_done: 3 * FAST + SLOW,
        bytes_per_second: 3 * FAST + SLOW,
        eta_seconds: 3,
        current_files: [
          file('a', 'a.safetensors', SIZE, FAST, FAST),
          file('b', 'b.safetensors', SIZE, FAST, FAST),
          file('c', 'c.safetensors', SIZE, FAST, FAST),
          file('slow', 'slow.safetensors', SIZE, SLOW, SLOW),
        ],
      }),
    );
    expect(state.bytesPerSecond).toBe(3 * FAST + SLOW);
    // (32 MiB - 14 MiB + ...) left at 14.5 MB/s.
    expect(state.etaSeconds).toBe(Math.ceil((TOTAL - 3 * FAST - SLOW) / (3 * FAST + SLOW)));

    state = apply(
      state,
      artifactCompleted(2, 'a', 'a.safetensors', SIZE),
      artifactCompleted(2, 'b', 'b.safetensors', SIZE),
      artifactCompleted(2, 'c', 'c.safetensors', SIZE),
    );
    // Three files done: 24 MiB plus the slow file's 2 MB; only the slow file moves now.
    expect(state.bytesDone).toBe(3 * SIZE + SLOW);
    expect(state.bytesPerSecond).toBe(SLOW);
    const left = TOTAL - 3 * SIZE - SLOW;
    expect(state.etaSeconds).toBe(Math.ceil(left / SLOW));
    expect(describeProgress(state)).toBe('80% 25.9 MiB of 32.0 MiB, 3 of 4 files, 1.9 MiB/s, ETA 4 s');
    expect(state.currentFiles.map((f) => f.path)).toEqual(['slow.safetensors']);
  });

  it('a snapshot taken before those files ended, arriving after, brings back no bar and moves nothing backwards', () => {
    let state = apply(
      started(),
      artifactCompleted(2, 'a', 'a.safetensors', SIZE),
      artifactCompleted(2, 'b', 'b.safetensors', SIZE),
      artifactCompleted(2, 'c', 'c.safetensors', SIZE),
    );
    state = apply(
      state,
      progress(2, {
        files_total: 4,
        files_done: 2,
        bytes_total: TOTAL,
        // Taken when c was at 54% and the slow file at 3 MB.
        bytes_done: 2 * SIZE + Math.round(0.54 * SIZE) + 3_000_000,
        bytes_per_second: FAST + SLOW,
        eta_seconds: 2,
        current_files: [
          file('c', 'c.safetensors', SIZE, Math.round(0.54 * SIZE), FAST),
          file('slow', 'slow.safetensors', SIZE, 3_000_000, SLOW),
        ],
      }),
    );
    expect(state.currentFiles.map((f) => f.artifactId)).toEqual(['slow']);
    expect(state.filesDone).toBe(3);
    expect(state.bytesDone).toBe(3 * SIZE + 3_000_000);
    expect(state.bytesPerSecond).toBe(SLOW);
    expect(state.etaSeconds).toBe(Math.ceil((SIZE - 3_000_000) / SLOW));
    const slowBar = fileBarText(state.currentFiles[0] as WatchState['currentFiles'][number], 160);
    expect(slowBar).toMatch(/ 35%\s+2\.9 MiB\/8\.0 MiB\s+1\.9 MiB\/s\s+slow\.safetensors$/);
  });

  it('writes every ETA in whole seconds', () => {
    const state = apply(
      started(),
      progress(1, {
        files_total: 4,
        bytes_total: TOTAL,
        bytes_done: TOTAL - 9 * MiB,
        bytes_per_second: 12 * MiB,
        eta_seconds: 1,
        current_files: [file('slow', 'slow.safetensors', SIZE, SIZE - 9 * MiB, 12 * MiB)],
      }),
    );
    expect(overallBarText(state, 160)).toMatch(/ETA 1 s$/);
    expect(state.jobId).toBe(JOB_ID);
  });
});
