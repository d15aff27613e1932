import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobsRepository } from '../../src/db/jobs.repo.js';
import { toJson } from '../../src/db/json.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { readEvents } from '../support/sse-client.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * A job whose worker stopped renewing its lease (it died): the reaper takes it back, says so in the
 * job's log and on its event stream, and this process runs it as the next attempt.
 */
const DEAD = 'gone-host:4242:deadbeef';
let hub: FakeHub;
let t: TestApp;
let base: string;

beforeAll(async () => {
  hub = await startFakeHub();
  // A short lease: the reaper sweeps every half lease.
  t = await startTestApp(hub.url, { JOB_LEASE_MS: '1000' });
  base = await t.listen();
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('a job whose worker died', () => {
  it('is taken back when its lease lapses, announced, and run as its next attempt', async () => {
    const jobs = new JobsRepository(t.app.db);
    const id = randomUUID();
    const createdAt = new Date().toISOString();
    // The dead worker's claim, lapsing shortly after the event stream below has opened.
    const lapsedAt = new Date(Date.now() + 1500).toISOString();
    await jobs.insert({ id, type: 'scan', payload: toJson({ deep: false }), createdAt });
    expect(await jobs.claim(id, DEAD, createdAt, lapsedAt)).toEqual({ takenBack: null });
    const streamed = readEvents(`${base}/v1/hub/jobs/${id}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.completed' || m.event === 'job.failed'),
      timeoutMs: 20_000,
    });
    const job = await t.waitForJob(id);
    expect(job).toMatchObject({ status: 'completed', attempts: 2, worker: null });
    const lines = job.logs.map((line: string) => line.replace(/^\S+ /, ''));
    expect(lines).toContain(`Taken back from worker ${DEAD}: its lease lapsed at ${lapsedAt}`);
    expect(lines).toContain(`Attempt 2, on worker ${t.app.workerId} (taken over from ${DEAD})`);
    expect(lines.indexOf(`Attempt 2, on worker ${t.app.workerId} (taken over from ${DEAD})`)).toBe(
      lines.indexOf(`Taken back from worker ${DEAD}: its lease lapsed at ${lapsedAt}`) + 1,
    );

    const takeovers = (await streamed).messages
      .filter((m) => m.event === 'job.progress' && m.data.data.takeover)
      .map((m) => ({ id: m.id, status: m.data.data.status, ...m.data.data.takeover }));
    expect(takeovers).toEqual([
      { id: undefined, status: 'pending', from: DEAD, to: null },
      { id: undefined, status: 'running', from: DEAD, to: t.app.workerId },
    ]);
  });

  it('is claimed straight from the dead worker only once its lease lapsed, saying whose and when, also to a late watcher', async () => {
    const jobs = new JobsRepository(t.app.db);
    const id = randomUUID();
    // An hour ahead: the app's reaper (real time) never sees these leases lapse, so only the claims
    // below move the job.
    const at = (seconds: number) => new Date(Date.now() + 3_600_000 + seconds * 1000).toISOString();
    const claimedAt = at(0);
    const lapsesAt = at(10);
    await jobs.insert({ id, type: 'scan', payload: toJson({ deep: false }), createdAt: claimedAt });
    expect(await jobs.claim(id, DEAD, claimedAt, lapsesAt)).toEqual({ takenBack: null });
    expect(await jobs.claim(id, 'live-host:1:aa', at(5), lapsesAt)).toBeUndefined();
    expect(await jobs.claim(id, 'live-host:1:aa', at(11), at(20))).toEqual({
      takenBack: { from: DEAD, leaseExpiredAt: lapsesAt },
    });
    expect(await jobs.findById(id)).toMatchObject({
      attempts: 2,
      leaseOwner: 'live-host:1:aa',
      takenOverFrom: DEAD,
    });
    // The new holder's lease is live: nobody takes it from them.
    expect(await jobs.claim(id, 'third-host:1:bb', at(12), lapsesAt)).toBeUndefined();

    // A watcher arriving now missed the live announcement: the stream's snapshot says it.
    const late = await readEvents(`${base}/v1/hub/jobs/${id}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.progress'),
      timeoutMs: 10_000,
    });
    const snapshot = late.messages.find((m) => m.event === 'job.progress');
    expect(snapshot?.data.data).toMatchObject({
      status: 'running',
      takeover: { from: DEAD, to: 'live-host:1:aa' },
    });
  });
});
