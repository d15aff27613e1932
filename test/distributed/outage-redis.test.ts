import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { MiB } from '../support/download-helpers.js';
import { addRoundRepo, hold, outageRound } from '../support/outage-rounds.js';
import { type OwnServer, startOwnPostgres, startOwnRedis } from '../support/own-servers.js';

/**
 * Redis killed with -9 under one API and two workers (one job each at a time) while two files
 * download and a third waits in the queue, and started again 10 s later: once with its data (an
 * append-only file), once without. Running handlers carry on (the jobs table is the truth), the
 * queue's own failures are only logged, the waiting job is offered again from the jobs table, and
 * every job completes with nothing left behind.
 */
const OUTAGE_MS = 10_000;

let hub: FakeHub;
let postgres: OwnServer;

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: MiB });
  await addRoundRepo(hub, 'redis-outage/kept');
  await addRoundRepo(hub, 'redis-outage/lost');
  postgres = await startOwnPostgres();
}, 60_000);

afterAll(async () => {
  await postgres?.destroy();
  await hub?.close();
});

/** A database of its own on our PostgreSQL, so each deployment's rows are only its own. */
async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgres.url);
  url.pathname = `/${name}`;
  return url.href;
}

describe.each([
  { data: 'kept', persistent: true },
  { data: 'lost', persistent: false },
])('Redis killed mid-download, its data $data', ({ data, persistent }) => {
  let redis: OwnServer;
  let cluster: Cluster;
  beforeAll(async () => {
    redis = await startOwnRedis({ persistent, stopSignal: 'SIGKILL' });
    cluster = await startCluster({
      databaseUrl: await freshDatabase(`redis_outage_${data}`),
      redisUrl: redis.url,
      hub,
      workers: 2,
      env: {
        JOB_LEASE_MS: '3000',
        WORKER_CONCURRENCY: '1',
        DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
    await redis?.destroy();
  });

  it('completes every job once Redis is back', async () => {
    const { recoveryMs, lastStartMs, attempts } = await outageRound(
      cluster,
      hub,
      `redis-outage/${data}`,
      async () => {
        await redis.stop();
        await hold(OUTAGE_MS);
        await redis.start();
        return Date.now();
      },
      2,
    );
    console.log(
      `Redis outage (${OUTAGE_MS / 1000} s, data ${data}): the queued job started ${(lastStartMs / 1000).toFixed(1)} s and all jobs completed ${(recoveryMs / 1000).toFixed(1)} s after restart (attempts ${attempts.join(', ')})`,
    );
    // The queued job downloads all of its file after the restart; the rest is healing.
    expect(recoveryMs).toBeLessThan(45_000);
    // The workers still take new work from the queue.
    const again = await cluster.api('POST', '/v1/hub/sync', { repo_id: `redis-outage/${data}` });
    expect(again.status).toBe(202);
    const synced = await waitFor(
      'a job queued after the outage',
      async () => {
        const job = (await cluster.api('GET', `/v1/hub/jobs/${again.body.job_id}`)).body;
        return job.status === 'completed' || job.status === 'failed' ? job : undefined;
      },
      30_000,
    );
    expect(synced.status).toBe('completed');
  }, 120_000);
});
