/**
 * `npm run bench:api`: the two busiest list endpoints under load. A hub with 10,000 finished jobs
 * (each with a result and a few log lines) and 100 models of 20 files each answers `GET
 * /v1/hub/jobs?limit=50` and `GET /v1/hub/models` to autocannon (a separate process, 100
 * connections, BENCH_API_SECONDS each, default 10). Runs on the embedded backend, then on
 * PostgreSQL + Redis when both are reachable; prints requests/s and latency percentiles next to
 * the targets (p99 under 50 ms embedded, under 100 ms distributed). Asserts nothing.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { newId } from '../src/clock.js';
import { startFakeHub } from '../test/fake-hub/fake-hub.js';
import { reachable } from '../test/support/reachable.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFlags } from './start-flags.js';

const JOBS = 10_000;
const MODELS = 100;
const FILES_PER_MODEL = 20;
const CONNECTIONS = 100;
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const ms = (value: number) => `${value.toFixed(0)} ms`.padStart(9);
const TARGET_P99_MS = { embedded: 50, distributed: 100 } as const;
type Backend = keyof typeof TARGET_P99_MS;

const root = path.resolve(import.meta.dirname, '..');
const backend = process.env.MODEL_HUB_TEST_BACKEND as Backend | undefined;

if (backend === undefined) {
  // The parent: one child per backend, so each gets a fresh process and its own app.
  const backends: Backend[] = ['embedded'];
  if ((await reachable(5432)) && (await reachable(6379))) backends.push('distributed');
  else console.log('distributed: skipped (PostgreSQL on :5432 and Redis on :6379 are not both reachable)');
  console.log(
    `${JOBS.toLocaleString('en-US')} jobs, ${MODELS} models × ${FILES_PER_MODEL} files; autocannon, ${CONNECTIONS} connections, ${SECONDS} s per endpoint`,
  );
  console.log(
    `${'backend'.padEnd(12)}${'endpoint'.padEnd(28)}${'req/s'.padStart(8)}${'p50'.padStart(9)}${'p90'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}  target p99`,
  );
  for (const which of backends) {
    // The app runs in the child, with the Node flags of `npm start` (BENCH_API_NODE_FLAGS replaces them).
    const flags = process.env.BENCH_API_NODE_FLAGS?.split(' ').filter(Boolean) ?? startFlags();
    const code = await run(process.execPath, [...flags, '--import', 'tsx', import.meta.filename], {
      MODEL_HUB_TEST_BACKEND: which,
    });
    if (code !== 0) process.exitCode = code;
  }
} else {
  await measureBackend(backend);
}

async function measureBackend(which: Backend): Promise<void> {
  const hub = await startFakeHub();
  const t = await startTestApp(hub.url);
  try {
    await seed(t.app.db);
    const base = await t.listen();
    for (const [label, url] of [
      ['GET /v1/hub/jobs?limit=50', '/v1/hub/jobs?limit=50'],
      ['GET /v1/hub/models', '/v1/hub/models'],
    ] as const) {
      // A short warm-up: first queries plan and fill caches.
      await autocannon(`${base}${url}`, 2);
      const result = await autocannon(`${base}${url}`, SECONDS);
      if (result.non2xx > 0 || result.errors > 0)
        console.log(`  ${label}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      const p99 = result.latency.p99;
      const target = TARGET_P99_MS[which];
      console.log(
        `${which.padEnd(12)}${label.padEnd(28)}${Math.round(result.requests.average).toLocaleString('en-US').padStart(8)}${ms(result.latency.p50)}${ms(result.latency.p90)}${ms(p99)}${ms(result.latency.max)}  < ${target} ms ${p99 < target ? 'met' : 'NOT met'}`,
      );
    }
  } finally {
    await t.close();
    await hub.close();
  }
}

/** Finished jobs as a busy hub holds them (a download's result, three log lines) and synced models. */
async function seed(db: Awaited<ReturnType<typeof startTestApp>>['app']['db']): Promise<void> {
  const started = Date.parse('2026-11-01T00:00:00.000Z');
  const at = (i: number) => new Date(started + i * 1000).toISOString();
  const models = Array.from({ length: MODELS }, (_, i) => ({
    id: newId(),
    vendor: 'Bench',
    name: `Model ${i}`,
    repoId: `bench/model-${i}`,
    revision: 'main',
    commitSha: 'a'.repeat(40),
    status: 'synced' as const,
    error: null,
    lastSyncedAt: at(i),
    createdAt: at(i),
    updatedAt: at(i),
  }));
  await db.insertInto('modelRepos').values(models).execute();
  for (const model of models) {
    await db
      .insertInto('artifacts')
      .values(
        Array.from({ length: FILES_PER_MODEL }, (_, f) => ({
          id: newId(),
          modelId: model.id,
          path: `shards/model-${String(f).padStart(5, '0')}.safetensors`,
          size: 1_000_000 + f,
          fileType: 'model' as const,
          upstreamOid: 'b'.repeat(40),
          upstreamSha256: 'c'.repeat(64),
          commitSha: model.commitSha,
          downloadStatus: 'completed' as const,
          sha256: 'c'.repeat(64),
          localPath: `blobs/sha256/${'c'.repeat(64)}`,
          error: null,
          removedAt: null,
          createdAt: model.createdAt,
          updatedAt: model.updatedAt,
        })),
      )
      .execute();
  }
  const CHUNK = 500;
  for (let from = 0; from < JOBS; from += CHUNK) {
    const jobs = Array.from({ length: Math.min(CHUNK, JOBS - from) }, (_, k) => {
      const i = from + k;
      const model = models[i % MODELS] as (typeof models)[number];
      return {
        id: newId(),
        type: 'download' as const,
        status: 'completed' as const,
        payload: JSON.stringify({ model_id: model.id, artifact_ids: [] }),
        result: JSON.stringify({ downloaded: 20, reused: 0, failed: 0, bytes: 20_000_190 }),
        error: null,
        attempts: 1,
        createdAt: at(i),
        updatedAt: at(i),
        startedAt: at(i),
        finishedAt: at(i),
        logLines: 3,
      };
    });
    await db.insertInto('jobs').values(jobs).execute();
    await db
      .insertInto('jobLogs')
      .values(
        jobs.flatMap((job) =>
          [1, 2, 3].map((seq) => ({
            jobId: job.id,
            seq,
            at: job.createdAt,
            message: `line ${seq} of ${job.id}`,
          })),
        ),
      )
      .execute();
  }
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
}

/** autocannon's CLI in its own process, so the load generator does not share the hub's event loop. */
async function autocannon(url: string, seconds: number): Promise<AutocannonResult> {
  const bin = path.join(root, 'node_modules', 'autocannon', 'autocannon.js');
  let stdout = '';
  const code = await run(
    process.execPath,
    [bin, '--json', '-c', String(CONNECTIONS), '-d', String(seconds), url],
    {},
    (chunk) => {
      stdout += chunk;
    },
  );
  if (code !== 0) throw new Error(`autocannon exited with ${code}`);
  return JSON.parse(stdout) as AutocannonResult;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  onStdout?: (chunk: string) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', onStdout ? 'pipe' : 'inherit', 'inherit'],
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => onStdout?.(chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}
