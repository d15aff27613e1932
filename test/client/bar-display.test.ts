import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createBarDisplay } from '../../src/client/bar-display.js';
import { initialWatchState, reduceJobEvent } from '../../src/client/job-watch.js';
import type { HubEvent } from '../../src/client/wire.js';
import { Screen } from '../support/screen.js';
import {
  artifactCompleted,
  downloadResult,
  file,
  JOB_ID,
  jobCompleted,
  jobCreated,
  MiB,
  progress,
  resetIds,
  snapshot,
} from './event-fixtures.js';

beforeEach(() => resetIds());

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
