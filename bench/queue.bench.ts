/**
 * `npm run bench:queue`: job throughput of both deployments, measured in one run.
 * 10,000 (BENCH_QUEUE_JOBS) small download jobs, one file each, against the fake hub in its own
 * process; every run starts on an empty store and database, so nothing is deduplicated.
 *  - embedded: SQLite + in-process queue; "N workers" = N × 4 job slots in the one process.
 *  - distributed: PostgreSQL + BullMQ; an API process (WORKER=off, this one) and N worker
 *    processes with 4 job slots each.
 * Reports enqueue rate (jobs accepted over HTTP per second) and end-to-end jobs/s (first enqueue to
 * last completion). Prints numbers; asserts nothing about speed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MANY_FILES_REPO } from '../test/fake-hub/demo.js';
import { createBackend } from '../test/support/backend.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';

const JOBS = Number(process.env.BENCH_QUEUE_JOBS ?? 10_000);
const SLOTS_PER_WORKER = 4;

const hub = await startFakeHubProcess(['--many-files', String(JOBS)]);

async function run(mode: 'embedded' | 'distributed', workers: number): Promise<string> {
  const backend = await createBackend(mode);
  const children: ChildProcess[] = [];
  const storeForWorkers = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-bench-queue-'));
  // Thousands of enqueues from one address: the write rate limit would refuse most of them.
  const common = {
    ...backend.env,
    MODEL_STORE_PATH: storeForWorkers,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_WRITES_PER_MINUTE: '0',
  };
  const t = await startTestApp(hub.url, {
    ...common,
    ...(mode === 'embedded' ? { WORKER_CONCURRENCY: String(SLOTS_PER_WORKER * workers) } : { WORKER: 'off' }),
  });
  try {
    for (let i = 0; i < (mode === 'distributed' ? workers : 0); i++) {
      children.push(
        spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'worker'], {
          env: {
            ...process.env,
            ...common,
            HF_ENDPOINT: hub.url,
            WORKER_CONCURRENCY: String(SLOTS_PER_WORKER),
          },
          stdio: 'ignore',
        }),
      );
    }
    const reg = await t.request('POST', '/v1/hub/register', {
      vendor: 'Bench',
      name: 'Queue',
      source_repo_id: MANY_FILES_REPO,
    });
    // The sync itself needs a worker: in distributed mode the worker processes run it.
    const sync = await t.request('POST', '/v1/hub/sync', { repo_id: MANY_FILES_REPO });
    await t.waitForJob(sync.body.job_id, 300_000);
    const artifacts = await t.request('GET', `/v1/hub/models/${reg.body.id}/artifacts`);
    const ids: string[] = artifacts.body.items.map((a: { id: string }) => a.id).slice(0, JOBS);

    const started = performance.now();
    for (const id of ids) {
      const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [id] });
      if (queued.status !== 202) throw new Error(`enqueue refused: ${JSON.stringify(queued.body)}`);
    }
    const enqueueSeconds = (performance.now() - started) / 1000;
    for (;;) {
      const counts = await t.app.db
        .selectFrom('jobs')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .where('type', '=', 'download')
        .groupBy('status')
        .execute();
      const by = Object.fromEntries(counts.map((c) => [c.status, Number(c.n)]));
      if ((by.failed ?? 0) > 0) throw new Error(`${by.failed} jobs failed`);
      if ((by.completed ?? 0) >= ids.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    return (
      `${mode.padEnd(11)} ${workers} worker(s): ${ids.length} jobs in ${seconds.toFixed(1)} s = ` +
      `${(ids.length / seconds).toFixed(0)} jobs/s end to end (enqueue ${(ids.length / enqueueSeconds).toFixed(0)} jobs/s)`
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    await t.close();
    await backend.drop();
    await fs.rm(storeForWorkers, { recursive: true, force: true });
  }
}

/** BENCH_QUEUE_RUNS, e.g. `embedded:1,distributed:2`, picks runs; all four by default. */
const runs = (process.env.BENCH_QUEUE_RUNS ?? 'embedded:1,embedded:2,distributed:1,distributed:2')
  .split(',')
  .map((spec) => {
    const [mode, workers] = spec.split(':');
    if ((mode !== 'embedded' && mode !== 'distributed') || !Number(workers)) {
      throw new Error(`BENCH_QUEUE_RUNS: "${spec}" is not embedded:N or distributed:N`);
    }
    return { mode, workers: Number(workers) } as const;
  });
const lines: string[] = [];
try {
  for (const { mode, workers } of runs) {
    const line = await run(mode, workers);
    console.log(line);
    lines.push(line);
  }
} finally {
  hub.stop();
}
