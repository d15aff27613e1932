import { beforeEach, describe, expect, it } from 'vitest';
import { initialWatchState, reduceJobEvent, type WatchState } from '../../src/client/job-watch.js';
import { createLineDisplay } from '../../src/client/progress-display.js';
import type { HubEvent } from '../../src/client/wire.js';
import {
  artifactCompleted,
  artifactFailed,
  downloadResult,
  JOB_ID,
  jobCompleted,
  jobCreated,
  jobFailed,
  MiB,
  progress,
  resetIds,
  snapshot,
} from './event-fixtures.js';

/** Feeds events through the reducer into a display, as `watch` does, at the given clock times. */
function drive(
  display: ReturnType<typeof createLineDisplay>,
  timed: [number, HubEvent][],
  clock: { now: number },
) {
  let state: WatchState = initialWatchState(JOB_ID);
  for (const [ms, event] of timed) {
    clock.now = ms;
    state = reduceJobEvent(state, event);
    display.update(state);
  }
  return state;
}

beforeEach(() => resetIds());

describe('line display (non-TTY)', () => {
  it('prints one line per finished file, a progress line at most every 2 s, and the summary', () => {
    const out: string[] = [];
    const err: string[] = [];
    const clock = { now: 0 };
    const display = createLineDisplay({
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      now: () => clock.now,
    });
    const state = drive(
      display,
      [
        [0, jobCreated()],
        [100, snapshot(0.1, 0)],
        [900, snapshot(0.9, 2 * MiB)],
        [1500, artifactCompleted(1.5, 'a1', 'config.json', 4 * MiB, 'present')],
        [2099, snapshot(2.1, 5 * MiB)],
        [2100, snapshot(2.1, 6 * MiB)],
        [3000, snapshot(3, 8 * MiB)],
        [4200, snapshot(4.2, 10 * MiB)],
        [5000, artifactCompleted(5, 'a2', 'weights/model.safetensors', 8 * MiB)],
        [
          5100,
          jobCompleted(5.1, downloadResult({ downloaded: 1, already_present: 1, bytes_downloaded: 8 * MiB })),
        ],
      ],
      clock,
    );
    display.finish(state);
    expect(out).toEqual([
      'progress 0% 0 B of 12.0 MiB, 0 of 2 files, 2.0 MiB/s, ETA 6 s',
      'done    config.json (4.0 MiB, already stored)',
      'progress 50% 6.0 MiB of 12.0 MiB, 1 of 2 files, 2.0 MiB/s, ETA 3 s',
      'progress 83% 10.0 MiB of 12.0 MiB, 1 of 2 files, 2.0 MiB/s, ETA 1 s',
      'done    weights/model.safetensors (8.0 MiB, downloaded)',
      'Download job completed in 5.1 s: 2 files, 12.0 MiB (1 downloaded, 0 deduplicated, 1 already present)',
    ]);
    expect(err).toEqual([]);
  });

  it('prints failed files with their error, and no progress while the job waits in the queue', () => {
    const out: string[] = [];
    const clock = { now: 0 };
    const display = createLineDisplay({ out: (l) => out.push(l), err: () => {}, now: () => clock.now });
    const state = drive(
      display,
      [
        [0, jobCreated()],
        [10, progress(0, { status: 'pending', files_total: 1, bytes_total: MiB })],
        [3000, artifactFailed(3, 'a1', 'gated.bin', 'Access to model x/y is restricted')],
        [3100, jobFailed(3.1, '1 of 1 artifact(s) failed', downloadResult({ failed: 1 }))],
      ],
      clock,
    );
    display.finish(state);
    expect(out).toEqual([
      'failed  gated.bin: Access to model x/y is restricted',
      'progress 0% 0 B of 1.0 MiB, 0 of 1 files (1 failed)',
      'Download job failed after 3.1 s: 0 of 1 files done, 0 B (0 downloaded, 0 deduplicated, 0 already present, 1 failed)',
    ]);
  });

  it('says when another worker takes the job over, while it waits and when it resumes', () => {
    const out: string[] = [];
    const clock = { now: 0 };
    const display = createLineDisplay({ out: (l) => out.push(l), err: () => {}, now: () => clock.now });
    const dead = 'node-a:4157:eff5c63b';
    const live = 'node-b:4156:a718918d';
    drive(
      display,
      [
        [0, jobCreated()],
        [100, snapshot(0.1, 2 * MiB)],
        [5000, snapshot(5, 5 * MiB, { status: 'pending', takeover: { from: dead, to: null } })],
        [5200, snapshot(5.2, 5 * MiB, { takeover: { from: dead, to: live } })],
      ],
      clock,
    );
    expect(out).toEqual([
      'progress 16% 2.0 MiB of 12.0 MiB, 0 of 2 files, 2.0 MiB/s, ETA 5 s',
      `worker ${dead} stopped renewing its lease; waiting for another worker to take the job over`,
      `taken over from worker ${dead} after its lease lapsed; resuming on worker ${live}`,
      'progress 41% 5.0 MiB of 12.0 MiB, 1 of 2 files, 2.0 MiB/s, ETA 4 s',
    ]);
  });

  it('prints each upstream retry as it happens, its control characters escaped', () => {
    const out: string[] = [];
    const clock = { now: 0 };
    const display = createLineDisplay({ out: (l) => out.push(l), err: () => {}, now: () => clock.now });
    const retry = (attempt: number, message: string) => ({
      retry: { message, attempt, max_retries: 5, delay_ms: 1000 * attempt },
    });
    drive(
      display,
      [
        [0, jobCreated('sync')],
        [100, progress(0.1, retry(1, 'upstream unreachable (ECONNREFUSED), retry 1/5 in 1 s (model info)'))],
        [
          1200,
          progress(
            1.2,
            retry(2, 'upstream answered 503, retry 2/5 in 2 s (evil\u001b[31m.json from byte 0)'),
          ),
        ],
      ],
      clock,
    );
    expect(out).toEqual([
      'upstream unreachable (ECONNREFUSED), retry 1/5 in 1 s (model info)',
      'upstream answered 503, retry 2/5 in 2 s (evil\\x1b[31m.json from byte 0)',
    ]);
  });

  it('sends notes about the connection to stderr, not into the job output', () => {
    const out: string[] = [];
    const err: string[] = [];
    const display = createLineDisplay({ out: (l) => out.push(l), err: (l) => err.push(l) });
    display.note('lost the event stream (connection lost); reconnecting…');
    expect(out).toEqual([]);
    expect(err).toEqual(['lost the event stream (connection lost); reconnecting…']);
  });
});
