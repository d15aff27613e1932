/**
 * `npm run bench:job-logs`: one job writes BENCH_LOG_LINES lines (default 200,000; an import of /usr
 * wrote 125,603) next to 49 jobs of 10 lines, on the backend of MODEL_HUB_TEST_BACKEND. Prints the
 * append rate, the lines stored, and the size and time of `GET /v1/hub/jobs`, of the job, and of a
 * page of its log, before and after the big log was written; asserts nothing.
 */
import { newId, nowIso } from '../src/clock.js';
import { JobsRepository } from '../src/db/jobs.repo.js';
import { startFakeHub } from '../test/fake-hub/fake-hub.js';
import { BACKEND } from '../test/support/backend.js';
import { startTestApp } from '../test/support/test-app.js';

const LINES = Number(process.env.BENCH_LOG_LINES ?? 200_000);
/** Appends in flight at once: several writers of one job, as file workers are. */
const WRITERS = 16;
const ROUNDS = 20;

const hub = await startFakeHub();
const t = await startTestApp(hub.url);
try {
  const jobs = new JobsRepository(t.app.db);
  const newJob = async () => {
    const id = newId();
    await jobs.insert({ id, type: 'scan', payload: JSON.stringify({ id }), createdAt: nowIso() });
    // Finished as it is made: no worker runs it, not even when the reaper re-offers stale pending jobs.
    await jobs.finish(id, { status: 'completed', at: nowIso() });
    return id;
  };
  for (let j = 0; j < 49; j++) {
    const id = await newJob();
    for (let i = 0; i < 10; i++) await jobs.appendLog(id, `Checked blob ${i} of job ${j}: ok`, nowIso());
  }

  const measure = async (label: string, url: string) => {
    const times: number[] = [];
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      const response = await t.app.http.inject({ method: 'GET', url });
      times.push(performance.now() - started);
      bytes = response.rawPayload.length;
      if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? 0;
    console.log(
      `${label.padEnd(46)} ${(bytes / 1024).toFixed(1).padStart(9)} KB ${median.toFixed(2).padStart(8)} ms`,
    );
  };

  console.log(`backend: ${BACKEND}; median of ${ROUNDS} requests`);
  await measure('GET /v1/hub/jobs, 49 small jobs', '/v1/hub/jobs');

  const big = await newJob();
  const started = performance.now();
  for (let i = 0; i < LINES; i += WRITERS) {
    const batch = Array.from({ length: Math.min(WRITERS, LINES - i) }, (_, k) => i + k + 1);
    await Promise.all(
      batch.map((n) =>
        jobs.appendLog(big, `Skipped usr:share/doc/file-${n}.txt: no file in the repo`, nowIso()),
      ),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const stored = await t.app.db
    .selectFrom('jobLogs')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('jobId', '=', big)
    .executeTakeFirstOrThrow();
  console.log(
    `appended ${LINES.toLocaleString('en-US')} lines in ${seconds.toFixed(1)} s (${Math.round(LINES / seconds).toLocaleString('en-US')} lines/s, ${WRITERS} writers); stored ${Number(stored.n).toLocaleString('en-US')}, log_lines ${(await jobs.findById(big))?.logLines.toLocaleString('en-US')}`,
  );
  await measure('GET /v1/hub/jobs, + the job of the long log', '/v1/hub/jobs');
  await measure('GET /v1/hub/jobs/{id} (kept log and marker)', `/v1/hub/jobs/${big}`);
  await measure('GET /v1/hub/jobs/{id}/logs (first page, 200)', `/v1/hub/jobs/${big}/logs`);
} finally {
  await t.close();
  await hub.close();
}
