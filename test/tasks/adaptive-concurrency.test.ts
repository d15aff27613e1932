import { describe, expect, it } from 'vitest';
import { AdaptiveConcurrency } from '../../src/tasks/download/adaptive-concurrency.js';

/** Drives the controller with a model of the link: rate(connections) in bytes per second. */
function simulate(max: number, rate: (connections: number) => number, windows: number): number[] {
  let now = 0;
  let bytes = 0;
  const controller = new AdaptiveConcurrency(max, now, 0);
  const targets: number[] = [controller.target];
  for (let i = 0; i < windows; i++) {
    now += 250;
    bytes += rate(controller.target) / 4;
    targets.push(controller.sample(bytes, now));
  }
  return targets;
}

describe('AdaptiveConcurrency', () => {
  it('returns to every connection after the probe when each one is throttled', () => {
    expect(simulate(8, (c) => c * 50e6, 6)).toEqual([8, 1, 8, 8, 8, 8, 8]);
  });

  it('stays on one connection on a fast link where more connections only share the CPU', () => {
    // Loopback on 2 cores: one stream is as fast as several, give or take the noise of a window.
    // The full width brought too little more for another look: one connection at once.
    const noisy = (c: number) => (c === 1 ? 600e6 : 660e6);
    expect(simulate(8, noisy, 6)).toEqual([8, 1, 1, 1, 1, 1, 1]);
  });

  it('decides on one connection at once when the full width brought less than one alone', () => {
    const slower = (c: number) => (c === 1 ? 500e6 : 400e6);
    expect(simulate(8, slower, 4)).toEqual([8, 1, 1, 1, 1]);
  });

  it('stays on one connection when several bring less than twice its rate', () => {
    const partly = (c: number) => (c === 1 ? 300e6 : 540e6);
    expect(simulate(8, partly, 4)).toEqual([8, 1, 8, 1, 1]);
  });

  it('measures a window only once connections above the target have finished their chunks', () => {
    const controller = new AdaptiveConcurrency(16, 0, 0);
    expect(controller.sample(80e6, 200, 16)).toBe(1); // 16 connections: 400 MB/s
    // Fifteen connections still finish their chunks: their bytes do not count for the single one.
    expect(controller.sample(150e6, 300, 16)).toBe(1);
    // 200 ms on one alone at 100 MB/s (blurred, it would look like 200 MB/s): 16 brought only
    // 25 MB/s each, so the full width gets a second look...
    expect(controller.sample(170e6, 500, 1)).toBe(16);
    // ...which confirms it: the link, not each connection, is the limit, so try fewer.
    expect(controller.sample(250e6, 700, 16)).toBe(8);
    expect(controller.settled).toBe(false);
  });

  it('gives the full width a second look when connections that had just opened were slow', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    // Eight throttled connections, fresh: 160 MB/s where they will bring 400; one alone bursts to 70.
    expect(controller.sample(32e6, 200, 8)).toBe(1);
    expect(controller.sample(46e6, 400, 1)).toBe(8);
    expect(controller.settled).toBe(false);
    // The second look sees them at their real rate: every connection pays, and all are kept.
    expect(controller.sample(126e6, 600, 8)).toBe(8);
    expect(controller.settled).toBe(true);
  });

  it('keeps looking at the full width while it speeds up, and decides on the best look', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    // Eight throttled connections while the machine is still busy starting the transfer: 100 MB/s.
    expect(controller.sample(20e6, 200, 8)).toBe(1);
    // One alone: 60 MB/s.
    expect(controller.sample(32e6, 400, 1)).toBe(8);
    // Still warming up: at 130 MB/s each brings less than half the lone rate, but it is rising...
    expect(controller.sample(58e6, 600, 8)).toBe(8);
    expect(controller.settled).toBe(false);
    // ...and then every connection brings its 50 MB/s: all eight are kept.
    expect(controller.sample(138e6, 800, 8)).toBe(8);
    expect(controller.settled).toBe(true);
  });

  it('stops looking after a few windows even while the rate still creeps up', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    // Eight bring 80 MB/s, one alone 50.
    let bytes = 16e6;
    expect(controller.sample(bytes, 200, 8)).toBe(1);
    bytes += 10e6;
    expect(controller.sample(bytes, 400, 1)).toBe(8);
    // Each look 25 % faster than the one before (100, 125, 156, 195 MB/s), never enough to prove
    // the full width: the fourth decides, on the best, to try fewer connections.
    let window = 16e6;
    const looks: number[] = [];
    for (let i = 1; i <= 4; i++) {
      window *= 1.25;
      bytes += window;
      looks.push(controller.sample(bytes, 400 + 200 * i, 8));
    }
    expect(looks).toEqual([8, 8, 8, 4]);
  });

  it('confirms one connection with one more look at the full width, two seconds later', () => {
    const noisy = (c: number) => (c === 1 ? 600e6 : 660e6);
    const ones = (n: number) => Array.from({ length: n }, () => 1);
    // Probe, ten windows alone, one at the full width, and one connection for good.
    expect(simulate(8, noisy, 16)).toEqual([8, 1, 1, ...ones(9), 8, 1, 1, 1, 1]);
  });

  it('returns to every connection when the confirming look finds each one throttled', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    // A busy start hides the throttle: 70 MB/s on eight, 50 alone.
    let bytes = 14e6;
    expect(controller.sample(bytes, 200, 8)).toBe(1);
    bytes += 10e6;
    expect(controller.sample(bytes, 400, 1)).toBe(1);
    expect(controller.settled).toBe(false);
    let now = 400;
    for (let window = 1; window < 10; window++) {
      bytes += 10e6;
      now += 200;
      expect(controller.sample(bytes, now, 1, 9)).toBe(1);
    }
    bytes += 10e6;
    now += 200;
    expect(controller.sample(bytes, now, 1, 9)).toBe(8);
    // The window starts once the seven new connections stream: 400 MB/s, and all are kept.
    now += 30;
    expect(controller.sample(bytes + 1e6, now, 8, 12)).toBe(8);
    expect(controller.sample(bytes + 2e6, now + 10, 8, 16)).toBe(8);
    expect(controller.sample(bytes + 2e6 + 80e6, now + 210, 8, 16)).toBe(8);
    expect(controller.settled).toBe(true);
  });

  it('starts measuring once every connection streams, so slow starts do not hide a throttle', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    // Handshakes on a distant link: only two of eight connections deliver in the first 300 ms.
    expect(controller.sample(30e6, 300, 8, 2)).toBe(8);
    // All eight stream from here on, 50 MB/s each.
    expect(controller.sample(30e6, 350, 8, 8)).toBe(8);
    expect(controller.sample(130e6, 550, 8, 8)).toBe(1);
    expect(controller.sample(140e6, 750, 1, 1)).toBe(8);
    expect(controller.settled).toBe(true);
  });

  it('measures nothing in the first 300 ms of a transfer', () => {
    const controller = new AdaptiveConcurrency(8, 0);
    // Eight throttled connections while the process is still busy starting the transfer: 80 MB/s.
    expect(controller.sample(20e6, 250, 8, 8)).toBe(8);
    expect(controller.sample(40e6, 325, 8, 8)).toBe(8);
    // The first window starts at 325 ms: 400 MB/s, then one alone brings 50.
    expect(controller.sample(120e6, 525, 8, 8)).toBe(1);
    expect(controller.sample(130e6, 725, 1, 8)).toBe(8);
    expect(controller.settled).toBe(true);
  });

  it('starts measuring after a second even if a connection never streams', () => {
    const controller = new AdaptiveConcurrency(8, 0, 0);
    expect(controller.sample(10e6, 900, 8, 7)).toBe(8);
    expect(controller.sample(10e6, 1000, 8, 7)).toBe(8);
    expect(controller.sample(80e6, 1200, 8, 7)).toBe(1);
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

  it('halves the count when throughput collapses, not when one window is slow', () => {
    let now = 0;
    const controller = new AdaptiveConcurrency(8, now, 0);
    let bytes = 0;
    const window = (rate: number) => {
      now += 250;
      bytes += rate / 4;
      return controller.sample(bytes, now);
    };
    for (const rate of [400e6, 50e6, 400e6]) window(rate);
    expect(controller.target).toBe(8);
    // A disk flush stalls one window, then the rate is back.
    expect([window(1e6), window(400e6)]).toEqual([8, 8]);
    // Less throughput on every connection (a machine short of CPU) is no collapse.
    expect([window(150e6), window(150e6), window(150e6)]).toEqual([8, 8, 8]);
    // Three windows in a row under a quarter of the best: a collapse.
    expect([window(1e6), window(1e6), window(1e6)]).toEqual([8, 8, 4]);
  });
});
