import { describe, expect, it } from 'vitest';
import { AdaptiveConcurrency } from '../../src/tasks/download/adaptive-concurrency.js';

/** Drives the controller with a model of the link: rate(connections) in bytes per second. */
function simulate(max: number, rate: (connections: number) => number, windows: number): number[] {
  let now = 0;
  let bytes = 0;
  const controller = new AdaptiveConcurrency(max, now);
  const targets: number[] = [controller.target];
  for (let i = 0; i < windows; i++) {
    now += 250;
    bytes += rate(controller.target) / 4;
    targets.push(controller.sample(bytes, now));
  }
  return targets;
}

describe('AdaptiveConcurrency', () => {
  it('grows to the maximum while every connection adds throughput (a per-connection throttle)', () => {
    expect(simulate(8, (c) => c * 50e6, 6)).toEqual([4, 1, 8, 8, 8, 8, 8]);
  });

  it('stays on one connection on a fast link where more connections only share the CPU', () => {
    // Loopback on 2 cores: one stream is as fast as several, give or take the noise of a window.
    const noisy = (c: number) => (c === 1 ? 600e6 : 660e6);
    expect(simulate(8, noisy, 6)).toEqual([4, 1, 1, 1, 1, 1, 1]);
  });

  it('stays on one connection when several bring less than twice its rate', () => {
    const partly = (c: number) => (c === 1 ? 300e6 : 540e6);
    expect(simulate(8, partly, 4)).toEqual([4, 1, 1, 1, 1]);
  });

  it('measures a window only once connections above the target have finished their chunks', () => {
    const controller = new AdaptiveConcurrency(8, 0);
    expect(controller.sample(50e6, 200, 4)).toBe(1); // 4 connections: 250 MB/s
    // Three connections still finish their chunks: their bytes do not count for the single one.
    expect(controller.sample(90e6, 300, 4)).toBe(1);
    // 200 ms on one connection alone at 50 MB/s (blurred, it would look like 150 MB/s): grow.
    expect(controller.sample(100e6, 400, 1)).toBe(1);
    expect(controller.sample(100e6, 500, 1)).toBe(8);
  });

  it('settles on one stream when more connections only cost CPU', () => {
    const cpuBound = (c: number) => (c === 1 ? 370e6 : c === 2 ? 340e6 : 290e6);
    const targets = simulate(8, cpuBound, 8);
    expect(targets.at(-1)).toBe(1);
  });

  it('stops growing at the knee of the curve', () => {
    const capped = (c: number) => Math.min(c, 4) * 100e6;
    expect(simulate(16, capped, 8).at(-1)).toBe(4);
  });

  it('halves the count when throughput collapses', () => {
    let now = 0;
    const controller = new AdaptiveConcurrency(8, now);
    let bytes = 0;
    for (const rate of [200e6, 50e6, 400e6, 400e6]) {
      now += 250;
      bytes += rate / 4;
      controller.sample(bytes, now);
    }
    expect(controller.target).toBe(8);
    now += 250;
    bytes += 1e6 / 4;
    expect(controller.sample(bytes, now)).toBe(4);
  });
});
