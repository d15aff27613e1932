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
    expect(simulate(8, (c) => c * 50e6, 6)).toEqual([4, 8, 8, 8, 8, 8, 8]);
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
    for (const rate of [200e6, 400e6, 400e6, 400e6]) {
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
