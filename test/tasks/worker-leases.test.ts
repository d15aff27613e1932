import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowIso } from '../../src/clock.js';
import { JobsRepository } from '../../src/db/jobs.repo.js';
import { LeasesRepository } from '../../src/db/leases.repo.js';
import { createLogger } from '../../src/logger.js';
import { retryWhileDatabaseDown } from '../../src/tasks/outage-retry.js';
import { WorkerLeases } from '../../src/tasks/worker-leases.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The heartbeat renews exactly what live handlers hold: a handler that ended (however it ended)
 * stops being renewed, so its job and content locks lapse within one lease period.
 */
const LEASE_MS = 600;
let hub: FakeHub;
let t: TestApp;
beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('WorkerLeases', () => {
  it('renews a live handler’s job and content lock, and nothing of it once it ended', async () => {
    const jobs = new JobsRepository(t.app.db);
    const rows = new LeasesRepository(t.app.db);
    const leases = new WorkerLeases(jobs, rows, LEASE_MS, createLogger('silent'));
    const id = crypto.randomUUID();
    await jobs.insert({ id, type: 'scan', payload: '{}', createdAt: nowIso() });
    expect(await jobs.claim(id, leases.owner, nowIso(), leases.leaseUntil())).toEqual({ takenBack: null });
    const handler = leases.hold(id, 1);
    const lock = await handler.tryAcquire(`content:${id}`);
    expect(lock).toBeDefined();
    // Another handler of the same process waits for the lock like any other worker would.
    const other = leases.hold('other', 1);
    expect(await other.tryAcquire(`content:${id}`)).toBeUndefined();
    leases.end(other);
    leases.start();
    try {
      const expiry = async () => (await jobs.findById(id))?.leaseExpiresAt ?? '';
      const first = await expiry();
      // Renewed past its first expiry: the heartbeat keeps a live handler's lease.
      await waitFor(
        'a renewal past the first lease',
        async () => ((await expiry()) > first ? true : undefined),
        5000,
      );
      await waitFor(
        'the first lease period to pass',
        async () => (nowIso() > first ? true : undefined),
        5000,
      );
      expect(await rows.isHeld(`content:${id}`, nowIso())).toBe(true);
      expect((await jobs.findById(id))?.status).toBe('running');

      leases.end(handler);
      const ended = Date.now();
      await waitFor(
        'the job lease to lapse',
        async () => ((await expiry()) < nowIso() ? true : undefined),
        5000,
      );
      expect(Date.now() - ended).toBeLessThanOrEqual(LEASE_MS + 500);
      expect(await rows.isHeld(`content:${id}`, nowIso())).toBe(false);
      expect(await jobs.reapExpired(nowIso())).toHaveLength(1);
      expect(handler.signal.aborted).toBe(false);
    } finally {
      await leases.stop();
    }
  });

  it('aborts a handler whose job row names another claim', async () => {
    const jobs = new JobsRepository(t.app.db);
    const leases = new WorkerLeases(jobs, new LeasesRepository(t.app.db), LEASE_MS, createLogger('silent'));
    const id = crypto.randomUUID();
    await jobs.insert({ id, type: 'scan', payload: '{}', createdAt: nowIso() });
    expect(await jobs.claim(id, leases.owner, nowIso(), leases.leaseUntil())).toEqual({ takenBack: null });
    // The same worker claimed it again (a redelivery after a reap): the older claim must stop.
    const stale = leases.hold(id, 0);
    const current = leases.hold(id, 1);
    leases.start();
    try {
      await waitFor('the stale claim aborted', async () => (stale.signal.aborted ? true : undefined), 5000);
      expect(stale.signal.reason).toMatchObject({ name: 'LeaseLost' });
      expect(current.signal.aborted).toBe(false);
      expect(
        await jobs.finish(id, { status: 'completed', at: nowIso() }, { owner: leases.owner, attempt: 0 }),
      ).toBe(false);
      expect(await jobs.finish(id, { status: 'completed', at: nowIso() }, current)).toBe(true);
      expect(await jobs.findById(id)).toMatchObject({ status: 'completed', leaseOwner: null });
    } finally {
      leases.end(stale);
      leases.end(current);
      await leases.stop();
    }
  });

  it('stops a handler whose job had a cancel asked for, even with no signal on the bus', async () => {
    const jobs = new JobsRepository(t.app.db);
    const leases = new WorkerLeases(jobs, new LeasesRepository(t.app.db), LEASE_MS, createLogger('silent'));
    const id = crypto.randomUUID();
    await jobs.insert({ id, type: 'scan', payload: '{}', createdAt: nowIso() });
    expect(await jobs.claim(id, leases.owner, nowIso(), leases.leaseUntil())).toEqual({ takenBack: null });
    const handler = leases.hold(id, 1);
    const otherId = crypto.randomUUID();
    await jobs.insert({ id: otherId, type: 'gc', payload: '{}', createdAt: nowIso() });
    expect(await jobs.claim(otherId, leases.owner, nowIso(), leases.leaseUntil())).toEqual({
      takenBack: null,
    });
    const other = leases.hold(otherId, 1);
    expect(await jobs.requestCancel(id, nowIso())).toMatchObject({ status: 'running' });
    leases.start();
    try {
      // The heartbeat finds the cancel on the row.
      await waitFor('the handler cancelled', async () => (handler.signal.aborted ? true : undefined), 5000);
      expect(handler.signal.reason).toMatchObject({ name: 'JobCancelled' });
      expect(other.signal.aborted).toBe(false);
      // A job whose cancel was asked for is never claimed again, even once its lease lapsed.
      const later = new Date(Date.now() + 10 * LEASE_MS).toISOString();
      expect(await jobs.claim(id, 'someone-else', later, later)).toBeUndefined();
      expect(await jobs.endCancelRequested(later)).toEqual([{ id, type: 'scan', payload: '{}' }]);
      expect(await jobs.findById(id)).toMatchObject({ status: 'cancelled', leaseOwner: null });
    } finally {
      leases.end(handler);
      leases.end(other);
      await leases.stop();
    }
  });
});

describe('retryWhileDatabaseDown', () => {
  const outage = () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

  it('retries while the database is unavailable, then returns', async () => {
    let calls = 0;
    const seen: string[] = [];
    const value = await retryWhileDatabaseDown(
      async () => {
        if (++calls < 3) throw outage();
        return 'written';
      },
      { giveUpAfterMs: 10_000, onRetry: (reason) => seen.push(reason) },
    );
    expect(value).toBe('written');
    expect(seen).toEqual(['unreachable', 'unreachable']);
  });

  it('never retries another error, and gives up after its budget', async () => {
    let calls = 0;
    await expect(
      retryWhileDatabaseDown(
        async () => {
          calls++;
          throw new Error('syntax error at or near "form"');
        },
        { giveUpAfterMs: 10_000 },
      ),
    ).rejects.toThrow('syntax error');
    expect(calls).toBe(1);
    const started = Date.now();
    await expect(
      retryWhileDatabaseDown(
        async () => {
          throw outage();
        },
        { giveUpAfterMs: 600 },
      ),
    ).rejects.toThrow('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(600 + 2500);
  });
});
