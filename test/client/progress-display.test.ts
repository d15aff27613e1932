import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { initialWatchState, reduceJobEvent, type WatchState } from '../../src/client/job-watch.js';
import { createBarDisplay, createLineDisplay } from '../../src/client/progress-display.js';
import type { HubEvent } from '../../src/client/wire.js';
import { Screen } from '../support/screen.js';
import {
  artifactCompleted,
  artifactFailed,
  downloadResult,
  file,
  JOB_ID,
  jobCompleted,
  jobCreated,
  jobFailed,
  MiB,
  progress,
  resetIds,
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

const snapshot = (seconds: number, bytesDone: number, extra: Parameters<typeof progress>[1] = {}) =>
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

class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns = 110;
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('bar display (TTY)', () => {
  it('draws the overall bar and one bar per file in flight, logs finished files and ends with the summary', async () => {
    const screen = new Screen(110);
    const display = createBarDisplay(screen);
    let state = initialWatchState(JOB_ID);
    for (const event of [jobCreated(), snapshot(1, 6 * MiB)]) {
      state = reduceJobEvent(state, event);
      display.update(state);
    }
    // The next frame (10 per second) shows the file in flight under the overall bar.
    await vi.waitFor(() =>
      expect(screen.lines()).toEqual([
        `download  ${'█'.repeat(20)}${'░'.repeat(20)}  50%  6.0 MiB/12.0 MiB  files 1/2  2.0 MiB/s  ETA 3 s`,
        `${' '.repeat(10)}${'█'.repeat(10)}${'░'.repeat(30)}  25%  2.0 MiB/8.0 MiB  weights/model.safetensors`,
      ]),
    );
    state = reduceJobEvent(state, artifactCompleted(2, 'a2', 'weights/model.safetensors', 8 * MiB));
    display.update(state);
    expect(screen.lines()).toEqual([
      'done    weights/model.safetensors (8.0 MiB, downloaded)',
      `download  ${'█'.repeat(40)} 100%  12.0 MiB/12.0 MiB  files 2/2  2.0 MiB/s  ETA 0 s`,
    ]);
    state = reduceJobEvent(
      state,
      jobCompleted(2.5, downloadResult({ downloaded: 2, bytes_downloaded: 12 * MiB })),
    );
    display.finish(state);
    // The bars leave the screen; the summary follows what was logged.
    expect(screen.lines()).toEqual([
      'done    weights/model.safetensors (8.0 MiB, downloaded)',
      'Download job completed in 2.5 s: 2 files, 12.0 MiB (2 downloaded, 0 deduplicated, 0 already present)',
    ]);
    // The cursor is hidden while drawing and shown again at the end.
    expect(screen.written).toContain('\x1b[?25l');
    expect(screen.written.lastIndexOf('\x1b[?25h')).toBeGreaterThan(screen.written.lastIndexOf('\x1b[?25l'));
  });

  it('logs a takeover above the bars and shows the job queued until another worker has it', async () => {
    const terminal = new FakeTerminal();
    const display = createBarDisplay(terminal);
    const visible = () => stripVTControlCharacters(terminal.text);
    let state = initialWatchState(JOB_ID);
    const dead = 'node-a:4157:eff5c63b';
    for (const event of [
      jobCreated(),
      snapshot(1, 6 * MiB),
      snapshot(5, 6 * MiB, { status: 'pending', takeover: { from: dead, to: null } }),
    ]) {
      state = reduceJobEvent(state, event);
      display.update(state);
    }
    await vi.waitFor(() => {
      expect(visible()).toContain(
        `worker ${dead} stopped renewing its lease; waiting for another worker to take the job over\n`,
      );
      expect(visible()).toContain(`queued    ${'█'.repeat(20)}${'░'.repeat(20)}  50%`);
    });
    state = reduceJobEvent(state, snapshot(6, 6 * MiB, { takeover: { from: dead, to: 'node-b:1:b' } }));
    display.update(state);
    display.stop();
    expect(visible()).toContain(
      `taken over from worker ${dead} after its lease lapsed; resuming on worker node-b:1:b\n`,
    );
  });

  it('logs an upstream retry above the bars, which stay drawn below it', async () => {
    const terminal = new FakeTerminal();
    const display = createBarDisplay(terminal);
    const visible = () => stripVTControlCharacters(terminal.text);
    let state = initialWatchState(JOB_ID);
    const message =
      'upstream answered 429 (rate limited, Retry-After 30 s), retry 1/5 in 30 s (weights.bin from byte 0)';
    for (const event of [
      jobCreated(),
      snapshot(1, 6 * MiB),
      snapshot(2, 6 * MiB, { retry: { message, attempt: 1, max_retries: 5, delay_ms: 30_000 } }),
    ]) {
      state = reduceJobEvent(state, event);
      display.update(state);
    }
    await vi.waitFor(() => {
      const text = visible();
      expect(text).toContain(`${message}\n`);
      // The next frame redraws the bars under the logged line, not over it.
      expect(text.lastIndexOf('download  ')).toBeGreaterThan(text.indexOf(message));
    });
    display.stop();
  });

  it('shows, on the screen, exactly the files still in flight once one finishes', async () => {
    const screen = new Screen(110);
    const display = createBarDisplay(screen);
    let state = initialWatchState(JOB_ID);
    const inFlight = (bytesDone: number, files: ReturnType<typeof file>[]) =>
      progress(1, {
        files_total: 3,
        files_done: 3 - files.length,
        bytes_total: 88 * MiB,
        bytes_done: bytesDone,
        bytes_per_second: files.length * MiB,
        current_files: files,
      });
    const apply = (event: HubEvent) => {
      state = reduceJobEvent(state, event);
      display.update(state);
    };
    apply(jobCreated());
    apply(
      inFlight(9 * MiB, [
        file('t5', 't5.pth', 16 * MiB, 3 * MiB, MiB),
        file('df', 'diffusion.safetensors', 64 * MiB, 3 * MiB, MiB),
        file('vae', 'vae.pth', 8 * MiB, 3 * MiB, MiB),
      ]),
    );
    await vi.waitFor(() => expect(screen.lines()).toHaveLength(4));
    // The last file's bar goes; the two above it keep their own rows and texts.
    apply(artifactCompleted(2, 'vae', 'vae.pth', 8 * MiB));
    const paths = () => screen.lines().map((line) => line.split(/\s+/).at(-1));
    expect(screen.lines()[0]).toBe('done    vae.pth (8.0 MiB, downloaded)');
    expect(paths().slice(2)).toEqual(['t5.pth', 'diffusion.safetensors']);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(paths().slice(2)).toEqual(['t5.pth', 'diffusion.safetensors']);
    expect(screen.lines()).toHaveLength(4);
    display.stop();
  });
});
