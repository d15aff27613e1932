import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * A handler holds its leases only while it runs, and stops as soon as one is gone: another worker
 * taking its job (simulated by rewriting `lease_owner`) aborts the transfer within one renewal
 * interval, leaves the partial file to resume, and writes no final state; another worker taking
 * the content lock stops the transfer too, and the job waits, then resumes from the partial.
 */
const LEASE_MS = 1500;
const RENEW_MS = LEASE_MS / 3;
const ELSEWHERE = 'elsewhere:1:00000000';
const SIZE = 16 * MiB;

let hub: FakeHub;
let t: TestApp;
const logs: { at: number; msg: string; jobId?: string }[] = [];

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 4 * MiB });
  for (const name of ['job', 'content']) {
    await hub.addRepo({
      id: `lease/${name}`,
      files: [{ path: 'w.safetensors', content: { size: SIZE, seed: `lease-${name}` } }],
    });
  }
  t = await startTestApp(
    hub.url,
    {
      JOB_LEASE_MS: String(LEASE_MS),
      LOG_LEVEL: 'warn',
      DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(SIZE * 2),
    },
    {
      write(line: string) {
        const parsed = JSON.parse(line) as { msg: string; jobId?: string };
        logs.push({ at: Date.now(), msg: parsed.msg, ...(parsed.jobId ? { jobId: parsed.jobId } : {}) });
      },
    },
  );
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

/** Starts downloading the repo's one file; resolves once at least 2 MiB of it are durable. */
async function downloadUnderWay(repoId: string) {
  const { artifacts } = await registerAndSync(t, repoId);
  const artifact = artifacts.get('w.safetensors');
  const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
  expect(queued.status).toBe(202);
  const part = path.join(t.storePath, 'temp', `${artifact.id}.part`);
  const committed = async () =>
    JSON.parse(await fs.readFile(`${part}.json`, 'utf8')).committedBytes as number;
  await waitFor('a durable checkpoint of 2 MiB', async () =>
    (await committed()) >= 2 * MiB ? true : undefined,
  );
  return { artifact, jobId: queued.body.job_id as string, part, committed };
}

const logged = (msg: RegExp, jobId: string, after: number) =>
  waitFor(
    `log "${msg}"`,
    async () => logs.find((l) => l.at >= after && l.jobId === jobId && msg.test(l.msg)),
    10_000,
  );

describe('a handler that loses its lease', () => {
  it('stops its transfer within one renewal interval, keeps the partial and writes no final state', async () => {
    const { artifact, jobId, part, committed } = await downloadUnderWay('lease/job');
    const takenAt = Date.now();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    await t.app.db
      .updateTable('jobs')
      .set({ leaseOwner: ELSEWHERE, leaseExpiresAt: later })
      .where('id', '=', jobId)
      .execute();

    const stopped = await logged(/^job lease lost: another worker runs this job now/, jobId, takenAt);
    const stoppedAfterMs = stopped.at - takenAt;
    console.log(`lost job lease: handler stopped ${stoppedAfterMs} ms after the takeover`);
    expect(stoppedAfterMs).toBeLessThanOrEqual(RENEW_MS + 1000);

    // The handler has returned: its writer is closed, and the row is as the new owner left it.
    const partSize = (await fs.stat(part)).size;
    const durable = await committed();
    expect(durable).toBeGreaterThanOrEqual(2 * MiB);
    expect(partSize).toBeGreaterThanOrEqual(durable);
    expect(partSize).toBeLessThan(SIZE);
    const row = await t.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', jobId)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'running', leaseOwner: ELSEWHERE, finishedAt: null, error: null });
    const events = await t.app.db.selectFrom('events').select('type').where('jobId', '=', jobId).execute();
    expect(events.map((e) => e.type)).toEqual(['job.created']);
    const stored = await t.app.db
      .selectFrom('artifacts')
      .select('downloadStatus')
      .where('id', '=', artifact.id)
      .executeTakeFirstOrThrow();
    expect(stored.downloadStatus).not.toBe('failed');
    expect((await fs.stat(part)).size).toBe(partSize);
    expect(await contentGets(hub, 'lease/job', 'w.safetensors')).toHaveLength(1);

    // The "other worker" dies: its lease lapses, the job is reclaimed and resumes from the partial.
    await t.app.db
      .updateTable('jobs')
      .set({ leaseExpiresAt: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', jobId)
      .execute();
    const job = await t.waitForJob(jobId, 30_000);
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    const gets = await contentGets(hub, 'lease/job', 'w.safetensors');
    expect(gets).toHaveLength(2);
    expect(rangeStart(gets[1] as (typeof gets)[number])).toBeGreaterThanOrEqual(durable);
    const upstream = await hub.fileInfo('lease/job', 'w.safetensors');
    expect(await sha256File(path.join(t.storePath, 'blobs', 'sha256', upstream.sha256))).toBe(
      upstream.sha256,
    );
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
  }, 60_000);

  it('stops the transfer when its content lock is taken, waits, and resumes once it is free', async () => {
    const { artifact, jobId, committed } = await downloadUnderWay('lease/content');
    const upstream = await hub.fileInfo('lease/content', 'w.safetensors');
    const key = `content:${upstream.sha256}`;
    const takenAt = Date.now();
    const taken = await t.app.db
      .updateTable('leases')
      .set({ holder: ELSEWHERE })
      .where('key', '=', key)
      .executeTakeFirst();
    expect(Number(taken.numUpdatedRows)).toBe(1);

    const waiting = await logged(/^content lock lost; stopping its transfer$/, jobId, takenAt);
    console.log(`lost content lock: transfer stopped ${waiting.at - takenAt} ms after the takeover`);
    expect(waiting.at - takenAt).toBeLessThanOrEqual(RENEW_MS + 1000);
    await waitFor('the job to log that it waits', async () => {
      const job = (await t.request('GET', `/v1/hub/jobs/${jobId}`)).body;
      return job.logs.some((l: string) => l.includes('Another worker took over downloading w.safetensors'))
        ? job
        : undefined;
    });
    const durable = await committed();
    const job = (await t.request('GET', `/v1/hub/jobs/${jobId}`)).body;
    expect(job.status).toBe('running');

    // The other holder gives the lock back: this job takes it again and resumes where it stopped.
    await t.app.db.deleteFrom('leases').where('key', '=', key).where('holder', '=', ELSEWHERE).execute();
    const done = await t.waitForJob(jobId, 30_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    const gets = await contentGets(hub, 'lease/content', 'w.safetensors');
    expect(gets).toHaveLength(2);
    expect(rangeStart(gets[1] as (typeof gets)[number])).toBeGreaterThanOrEqual(durable);
    const row = await t.app.db
      .selectFrom('artifacts')
      .selectAll()
      .where('id', '=', artifact.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ downloadStatus: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(path.join(t.storePath, 'blobs', 'sha256', upstream.sha256))).toBe(
      upstream.sha256,
    );
    expect(await t.app.db.selectFrom('leases').selectAll().execute()).toEqual([]);
  }, 60_000);
});
