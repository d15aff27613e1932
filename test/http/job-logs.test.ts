import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, nowIso } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connection.js';
import { JobsRepository, LOG_HEAD_LINES, LOG_TAIL_LINES, LOG_TRIM_BATCH } from '../../src/db/jobs.repo.js';
import { initial } from '../../src/db/migrations/0001-initial.js';
import { leases } from '../../src/db/migrations/0002-leases.js';
import { events } from '../../src/db/migrations/0003-events.js';
import { storage } from '../../src/db/migrations/0004-storage.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { createBackend } from '../support/backend.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Job logs are bounded where they are written (first LOG_HEAD_LINES and last LOG_TAIL_LINES lines,
 * plus a count of the rest), the job list carries no logs, and one job's log reads a page at a time.
 */
let hub: FakeHub;
let t: TestApp;
let jobs: JobsRepository;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
  jobs = new JobsRepository(t.app.db);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

/** A job row no worker will run (finished as it is made), to write logs into. */
async function quietJob(): Promise<string> {
  const id = newId();
  await jobs.insert({ id, type: 'scan', payload: JSON.stringify({ id }), createdAt: nowIso() });
  await jobs.finish(id, { status: 'completed', at: nowIso() });
  return id;
}

/** Stored rows: the kept head and tail, and at most one batch of lines that left the tail, awaiting deletion. */
async function expectBounded(jobId: string, total: number): Promise<void> {
  const seqs = await storedSeqs(jobId);
  const head = range(1, LOG_HEAD_LINES);
  const tail = range(total - LOG_TAIL_LINES + 1, total);
  expect(seqs.slice(0, LOG_HEAD_LINES)).toEqual(head);
  expect(seqs.slice(-LOG_TAIL_LINES)).toEqual(tail);
  expect(seqs.length).toBeLessThan(LOG_HEAD_LINES + LOG_TAIL_LINES + LOG_TRIM_BATCH);
}

async function storedSeqs(jobId: string): Promise<number[]> {
  const rows = await t.app.db
    .selectFrom('jobLogs')
    .select('seq')
    .where('jobId', '=', jobId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.seq);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

describe('bounded job logs', () => {
  it('keep the first and last lines of a long log, count the dropped ones and mark the cut', async () => {
    const id = await quietJob();
    const total = 1_234;
    for (let i = 1; i <= total; i++) await jobs.appendLog(id, `line ${i}`, nowIso());

    await expectBounded(id, total);
    expect((await jobs.findById(id))?.logLines).toBe(total);

    const job = await t.request('GET', `/v1/hub/jobs/${id}`);
    expect(job.status).toBe(200);
    const logs: string[] = job.body.logs;
    expect(logs).toHaveLength(LOG_HEAD_LINES + 1 + LOG_TAIL_LINES);
    expect(logs.every((line) => TIME.test(line))).toBe(true);
    const messages = logs.map((line) => line.replace(TIME, ''));
    expect(messages.slice(0, 2)).toEqual(['line 1', 'line 2']);
    expect(messages[LOG_HEAD_LINES - 1]).toBe(`line ${LOG_HEAD_LINES}`);
    expect(messages[LOG_HEAD_LINES]).toBe('… 234 lines dropped …');
    expect(messages[LOG_HEAD_LINES + 1]).toBe(`line ${total - LOG_TAIL_LINES + 1}`);
    expect(messages.at(-1)).toBe(`line ${total}`);
  });

  it('stay exact with many writers of one job at once (every line numbered once, the cut in place)', async () => {
    const id = await quietJob();
    const total = 1_550;
    for (let batch = 0; batch < total / 50; batch++) {
      await Promise.all(range(1, 50).map((i) => jobs.appendLog(id, `w${batch * 50 + i}`, nowIso())));
    }
    expect((await jobs.findById(id))?.logLines).toBe(total);
    await expectBounded(id, total);
    const logs: string[] = (await t.request('GET', `/v1/hub/jobs/${id}`)).body.logs;
    expect(logs).toHaveLength(LOG_HEAD_LINES + 1 + LOG_TAIL_LINES);
    expect(logs[LOG_HEAD_LINES]).toMatch(/ … 550 lines dropped …$/);
    expect(new Set(logs).size).toBe(logs.length);
    const page = await t.request('GET', `/v1/hub/jobs/${id}/logs?limit=1`);
    expect(page.body.dropped_lines).toBe(550);
  });

  it('leave a short log whole, with nothing dropped', async () => {
    const id = await quietJob();
    for (const message of ['one', 'two', 'three']) await jobs.appendLog(id, message, nowIso());
    const page = await t.request('GET', `/v1/hub/jobs/${id}/logs`);
    expect(page.status).toBe(200);
    expect(page.body.items.map((line: string) => line.replace(TIME, ''))).toEqual(['one', 'two', 'three']);
    expect(page.body).toMatchObject({ next_cursor: null, dropped_lines: 0 });
  });
});

describe('GET /v1/hub/jobs/{job_id}/logs', () => {
  it('pages through the kept lines and the marker, in order, to the same log the job shows', async () => {
    const id = await quietJob();
    for (let i = 1; i <= 1_100; i++) await jobs.appendLog(id, `line ${i}`, nowIso());
    const whole: string[] = (await t.request('GET', `/v1/hub/jobs/${id}`)).body.logs;

    for (const limit of [1, 7, 200, 201, 1000]) {
      const lines: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
        const page: { status: number; body: any } = await t.request(
          'GET',
          `/v1/hub/jobs/${id}/logs?${query}`,
        );
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(limit);
        expect(page.body.dropped_lines).toBe(100);
        lines.push(...page.body.items);
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor);
      expect({ limit, pages, lines }).toEqual({
        limit,
        pages: Math.ceil(whole.length / limit),
        lines: whole,
      });
    }
  });

  it('answers 404 for an unknown job and 400 for a cursor it did not hand out', async () => {
    const unknown = await t.request('GET', '/v1/hub/jobs/00000000-0000-4000-8000-000000000000/logs');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('JOB_NOT_FOUND');
    const id = await quietJob();
    const bad = await t.request('GET', `/v1/hub/jobs/${id}/logs?cursor=bm90LWEtY3Vyc29y`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const tooMany = await t.request('GET', `/v1/hub/jobs/${id}/logs?limit=1001`);
    expect(tooMany.status).toBe(400);
  });

  it('is not repeated in the job list, which carries no logs', async () => {
    const id = await quietJob();
    await jobs.appendLog(id, 'only in the log', nowIso());
    const list = await t.request('GET', '/v1/hub/jobs?type=scan&limit=200');
    const listed = list.body.items.find((j: any) => j.id === id);
    expect(listed).toMatchObject({ id, type: 'scan', status: 'completed' });
    expect(list.body.items.every((j: any) => !('logs' in j))).toBe(true);
    expect(JSON.stringify(list.body)).not.toContain('only in the log');
  });
});

describe('migration 0006', () => {
  it('counts and cuts the logs jobs wrote before it', async () => {
    const backend = await createBackend();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-logs-migration-'));
    const db = openDatabase(loadConfig({ ...backend.env, MODEL_STORE_PATH: dir }).database);
    try {
      const before = {
        '0001-initial': initial,
        '0002-leases': leases,
        '0003-events': events,
        '0004-storage': storage,
      };
      const { error } = await new Migrator({
        db,
        provider: { getMigrations: async () => before },
      }).migrateToLatest();
      expect(error).toBeUndefined();
      const at = nowIso();
      const [big, small] = [newId(), newId()];
      for (const id of [big, small]) {
        await db
          .insertInto('jobs')
          .values({ id, type: 'scan', status: 'completed', payload: '{}', createdAt: at, updatedAt: at })
          .execute();
      }
      const rows = [
        ...range(1, 1_500).map((seq) => ({ jobId: big, seq, at, message: `old ${seq}` })),
        ...range(1, 3).map((seq) => ({ jobId: small, seq, at, message: `small ${seq}` })),
      ];
      for (let i = 0; i < rows.length; i += 500) {
        await db
          .insertInto('jobLogs')
          .values(rows.slice(i, i + 500))
          .execute();
      }

      await migrateToLatest(db);
      const count = async (id: string) =>
        (await db.selectFrom('jobs').select('logLines').where('id', '=', id).executeTakeFirstOrThrow())
          .logLines;
      const seqs = async (id: string) =>
        (await db.selectFrom('jobLogs').select('seq').where('jobId', '=', id).orderBy('seq').execute()).map(
          (r) => r.seq,
        );
      expect(await count(big)).toBe(1_500);
      expect(await seqs(big)).toEqual([...range(1, 200), ...range(701, 1_500)]);
      expect(await count(small)).toBe(3);
      expect(await seqs(small)).toEqual([1, 2, 3]);
    } finally {
      await db.destroy();
      await backend.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
