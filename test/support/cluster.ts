import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import type { FakeHub } from '../fake-hub/fake-hub.js';
import { freePort, jsonApi, killAll, spawnHub, waitFor } from './child-server.js';
import { sha256File } from './download-helpers.js';

/**
 * A deployment of child processes for fault tests: one API (WORKER=off) and N workers on a
 * PostgreSQL and a Redis of the test's own (test/support/own-servers.ts), one store, the fake hub.
 * Each process logs to its own file in the work folder, shown when a wait times out.
 */
export interface Cluster {
  base: string;
  storePath: string;
  api: ReturnType<typeof jsonApi>['api'];
  workers: ChildProcess[];
  /** Direct queries on the cluster's database (for rows the API does not show: leases). */
  query<T extends pg.QueryResultRow>(text: string): Promise<T[]>;
  /** The last lines of every process's log, for a failure message. */
  logTail(lines?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startCluster(options: {
  databaseUrl: string;
  redisUrl: string;
  hub: FakeHub;
  workers: number;
  env?: Record<string, string>;
}): Promise<Cluster> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-cluster-'));
  const storePath = path.join(workDir, 'store');
  const children: ChildProcess[] = [];
  const logFiles: string[] = [];
  const start = (name: string, command: 'serve' | 'worker', env: Record<string, string>) => {
    const logFile = path.join(workDir, `${name}.log`);
    logFiles.push(logFile);
    const child = spawnHub(
      command,
      {
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        MODEL_STORE_PATH: storePath,
        HF_ENDPOINT: options.hub.url,
        LOG_LEVEL: 'warn',
        UPSTREAM_RETRY_BASE_MS: '50',
        ...options.env,
        ...env,
      },
      'pipe',
    );
    const out = createWriteStream(logFile);
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    children.push(child);
    return child;
  };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const prefix = { QUEUE_PREFIX: `mh-fault-${randomBytes(4).toString('hex')}` };
  start('api', 'serve', { ...prefix, PORT: String(port), WORKER: 'off' });
  const logTail = async (lines = 15) => {
    const parts = await Promise.all(
      logFiles.map(async (file) => {
        const text = await fs.readFile(file, 'utf8').catch(() => '');
        return `--- ${path.basename(file)}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }),
    );
    return parts.join('\n');
  };
  await waitFor(
    'the API',
    async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined),
    60_000,
  ).catch(async (error: Error) => {
    throw new Error(`${error.message}\n${await logTail()}`);
  });
  const workers = Array.from({ length: options.workers }, (_, i) =>
    start(`worker-${i + 1}`, 'worker', prefix),
  );
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  pool.on('error', () => {});
  return {
    base,
    storePath,
    api: jsonApi(() => base).api,
    workers,
    async query<T extends pg.QueryResultRow>(text: string) {
      return (await pool.query<T>(text)).rows;
    },
    logTail,
    async close() {
      killAll(children);
      await Promise.all(
        children.map((c) =>
          c.exitCode === null && c.signalCode === null
            ? new Promise((resolve) => c.once('exit', resolve))
            : undefined,
        ),
      );
      await pool.end();
      await fs.rm(workDir, { recursive: true, force: true });
    },
  };
}

/** What every outage must leave behind: jobs completed, no lease held, blobs intact, temp/ empty. */
export async function expectHealed(cluster: Cluster, hub: FakeHub, repoId: string, jobIds: string[]) {
  const jobs = await cluster.query<{
    id: string;
    status: string;
    lease_owner: string | null;
    lease_expires_at: string | null;
  }>(
    `select id, status, lease_owner, lease_expires_at from jobs where id in (${jobIds.map((id) => `'${id}'`).join(',')})`,
  );
  expect(jobs.map((j) => [j.status, j.lease_owner, j.lease_expires_at])).toEqual(
    jobIds.map(() => ['completed', null, null]),
  );
  expect(await cluster.query(`select id from jobs where status = 'running'`)).toEqual([]);
  // A lock whose release met the outage is deleted by a background retry, or lapses within a lease.
  await waitFor(
    'no lease row left',
    async () => ((await cluster.query('select key from leases')).length === 0 ? true : undefined),
    15_000,
  ).catch(async () => {
    expect(await cluster.query('select key, holder, expires_at from leases')).toEqual([]);
  });
  const models = (await cluster.api('GET', '/v1/hub/models')).body.items as any[];
  const model = models.find((m) => m.repo_id === repoId);
  const artifacts = (await cluster.api('GET', `/v1/hub/models/${model.id}/artifacts`)).body.items as any[];
  for (const artifact of artifacts) {
    const upstream = await hub.fileInfo(repoId, artifact.path);
    expect(artifact).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    const blob = path.join(cluster.storePath, 'blobs', 'sha256', upstream.sha256);
    expect(await sha256File(blob)).toBe(upstream.sha256);
  }
  expect(await fs.readdir(path.join(cluster.storePath, 'temp'))).toEqual([]);
}
