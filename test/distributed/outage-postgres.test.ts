import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { MiB } from '../support/download-helpers.js';
import { addRoundRepo, hold, outageRound } from '../support/outage-rounds.js';
import { type OwnServer, startOwnPostgres, startOwnRedis } from '../support/own-servers.js';

/**
 * PostgreSQL killed (`pg_ctl -m immediate`) under one API and two workers while three files download,
 * for 15 s (five times the job lease), five times in a row. Transfers carry on through the outage;
 * the artifacts' completion and the jobs' final state are retried until the database is back; a
 * handler whose lease was reaped meanwhile stops and another attempt resumes its partial file. After
 * each round every job is completed, no lease is held, every blob re-hashes to its name, and temp/
 * is empty.
 */
const OUTAGE_MS = 15_000;
const ROUNDS = 5;

let hub: FakeHub;
let postgres: OwnServer;
let redis: OwnServer;
let cluster: Cluster;

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: MiB });
  for (let round = 1; round <= ROUNDS; round++) await addRoundRepo(hub, `pg-outage/round-${round}`);
  [postgres, redis] = await Promise.all([startOwnPostgres({ stopMode: 'immediate' }), startOwnRedis()]);
  cluster = await startCluster({
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    hub,
    workers: 2,
    env: { JOB_LEASE_MS: '3000', DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB) },
  });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await Promise.all([postgres?.destroy(), redis?.destroy()]);
  await hub?.close();
});

describe('PostgreSQL down mid-download', () => {
  it(`heals after a ${OUTAGE_MS / 1000} s outage, ${ROUNDS} times in a row`, async () => {
    const recoveries: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const { recoveryMs, attempts } = await outageRound(
        cluster,
        hub,
        `pg-outage/round-${round}`,
        async () => {
          await postgres.stop();
          await hold(OUTAGE_MS);
          await postgres.start();
          return Date.now();
        },
      );
      recoveries.push(recoveryMs);
      console.log(
        `PostgreSQL outage ${round}/${ROUNDS} (${OUTAGE_MS / 1000} s): all jobs completed ${(recoveryMs / 1000).toFixed(1)} s after restart (attempts ${attempts.join(', ')})`,
      );
    }
    console.log(
      `PostgreSQL recovery after restart: max ${(Math.max(...recoveries) / 1000).toFixed(1)} s, rounds ${recoveries.map((ms) => (ms / 1000).toFixed(1)).join(' / ')} s`,
    );
    // The 20 MiB file still has a few seconds of bytes to fetch after the restart; the rest is healing.
    expect(Math.max(...recoveries)).toBeLessThan(30_000);
  }, 240_000);
});
