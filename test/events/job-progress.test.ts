import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobProgress, type ProgressSnapshot } from '../../src/events/job-progress.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function tracker(intervalMs = 1000) {
  const flushed: { at: number; snapshot: ProgressSnapshot }[] = [];
  const progress = new JobProgress(
    async (snapshot) => {
      flushed.push({ at: Date.now(), snapshot });
    },
    intervalMs,
    () => Date.now(),
  );
  return { progress, flushed };
}

describe('JobProgress', () => {
  it('flushes at most once per interval however many chunks arrive, and always the latest state', async () => {
    const { progress, flushed } = tracker(1000);
    progress.plan(1, 1000);
    progress.fileStarted('a', 'model.bin', 1000);
    for (let i = 1; i <= 100; i++) {
      await vi.advanceTimersByTimeAsync(25);
      progress.fileProgress('a', i * 10, 10);
    }
    // 2.5 s of chunks every 25 ms: one flush per second, the first one interval after the start.
    expect(flushed.map((f) => f.at)).toEqual([1000, 2000]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(flushed.map((f) => f.at)).toEqual([1000, 2000, 3000]);
    expect(flushed.at(-1)?.snapshot.bytes_done).toBe(1000);
    // Nothing changed since: no more writes.
    await vi.advanceTimersByTimeAsync(5000);
    expect(flushed).toHaveLength(3);
  });

  it('counts files and bytes, measures speed over received bytes only, and estimates the time left', async () => {
    const { progress } = tracker(1000);
    progress.plan(3, 3000);
    progress.fileStarted('done', 'small.json', 500);
    progress.fileFinished('done', { ok: true, size: 500 });
    progress.fileStarted('bad', 'bad.bin', 500);
    progress.fileFinished('bad', { ok: false, size: 500 });
    progress.fileStarted('big', 'big.bin', 2000);
    // Resumed at 400: the prefix was not received now, so it does not count towards speed.
    progress.fileProgress('big', 400, 0);
    await vi.advanceTimersByTimeAsync(2000);
    progress.fileProgress('big', 800, 400);
    const snapshot = progress.snapshot();
    expect(snapshot).toMatchObject({
      files_total: 3,
      files_done: 1,
      files_failed: 1,
      bytes_total: 3000,
      bytes_done: 1300,
      bytes_per_second: 200,
      current_files: [{ artifact_id: 'big', path: 'big.bin', size: 2000, bytes_done: 800 }],
    });
    // (3000 - 1300) bytes at 200 B/s.
    expect(snapshot.eta_seconds).toBe(9);
  });

  it('measures each file over the last 3 s and the job as the files in flight: a file that ends stops counting at once', async () => {
    const { progress } = tracker(1000);
    const MB = 1_000_000;
    progress.plan(2, 40 * MB);
    progress.fileStarted('fast', 'fast.bin', 20 * MB);
    progress.fileStarted('slow', 'slow.bin', 20 * MB);
    for (let second = 1; second <= 4; second++) {
      await vi.advanceTimersByTimeAsync(1000);
      progress.fileProgress('fast', second * 4 * MB, 4 * MB);
      progress.fileProgress('slow', second * 2 * MB, 2 * MB);
    }
    await vi.advanceTimersByTimeAsync(1000);
    const both = progress.snapshot();
    expect(both.current_files.map((f) => [f.path, f.bytes_per_second])).toEqual([
      ['fast.bin', 4 * MB],
      ['slow.bin', 2 * MB],
    ]);
    expect(both.bytes_per_second).toBe(6 * MB);

    progress.fileProgress('fast', 20 * MB, 4 * MB);
    progress.fileFinished('fast', { ok: true, size: 20 * MB });
    const one = progress.snapshot();
    expect(one.bytes_per_second).toBe(2 * MB);
    // 40 MB - 20 MB - 8 MB left at 2 MB/s.
    expect(one.eta_seconds).toBe(6);
  });

  it('has no ETA before anything was received, and 0 once everything is done', async () => {
    const { progress } = tracker();
    progress.plan(1, 100);
    progress.fileStarted('a', 'a.bin', 100);
    expect(progress.snapshot().eta_seconds).toBeNull();
    progress.fileProgress('a', 100, 100);
    progress.fileFinished('a', { ok: true, size: 100 });
    expect(progress.snapshot()).toMatchObject({ bytes_done: 100, eta_seconds: 0, current_files: [] });
  });

  it('stops flushing once closed and returns the final snapshot', async () => {
    const { progress, flushed } = tracker(1000);
    progress.plan(1, 10);
    await vi.advanceTimersByTimeAsync(1000);
    progress.fileStarted('a', 'a.bin', 10);
    const final = await progress.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(flushed).toHaveLength(1);
    expect(final.current_files).toHaveLength(1);
  });
});
