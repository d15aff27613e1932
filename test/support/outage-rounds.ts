import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { FakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from './child-server.js';
import { type Cluster, expectHealed } from './cluster.js';
import { MiB } from './download-helpers.js';

/**
 * One round of a fault test: a repo of three files downloading as three jobs, an outage injected
 * while their bytes flow, then every job must complete and leave nothing behind. Returns the
 * recovery time: from the dependency's restart to the last job seen completed.
 */
export const ROUND_FILE_SIZES = [3 * MiB, 4 * MiB, 20 * MiB];

export async function addRoundRepo(hub: FakeHub, repoId: string): Promise<void> {
  await hub.addRepo({
    id: repoId,
    files: ROUND_FILE_SIZES.map((size, i) => ({
      path: `shard-${i}.safetensors`,
      content: { size, seed: `${repoId}-${i}` },
    })),
  });
}

export async function outageRound(
  cluster: Cluster,
  hub: FakeHub,
  repoId: string,
  /** Breaks a dependency and repairs it; resolves with when it was back (epoch ms). */
  outage: () => Promise<number>,
  /** How many files must be downloading when the outage starts (the others wait in the queue). */
  downloading = ROUND_FILE_SIZES.length,
): Promise<{ recoveryMs: number; lastStartMs: number; attempts: number[] }> {
  const name = repoId.replaceAll(/[^a-z0-9]/gi, '');
  const registered = await cluster.api('POST', '/v1/hub/register', {
    vendor: 'Outage',
    name,
    source_repo_id: repoId,
    auto_sync: true,
  });
  expect(registered.status).toBe(201);
  await jobsDone(cluster, [registered.body.sync_job_id], 30_000);
  const artifacts = (await cluster.api('GET', `/v1/hub/models/${registered.body.id}/artifacts`)).body
    .items as any[];
  expect(artifacts).toHaveLength(ROUND_FILE_SIZES.length);
  const jobIds: string[] = [];
  for (const artifact of artifacts) {
    const queued = await cluster.api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
    expect(queued.status).toBe(202);
    jobIds.push(queued.body.job_id);
  }
  // Files with durable bytes on disk: the outage lands mid-download for them.
  const committed = async (id: string) => {
    const state = path.join(cluster.storePath, 'temp', `${id}.part.json`);
    return JSON.parse(await fs.readFile(state, 'utf8')).committedBytes as number;
  };
  await waitFor(
    `${downloading} files downloading`,
    async () => {
      let started = 0;
      for (const artifact of artifacts) if ((await committed(artifact.id).catch(() => 0)) >= MiB) started++;
      return started >= downloading ? true : undefined;
    },
    30_000,
  );
  const backAt = await outage();
  const done = await jobsDone(cluster, jobIds, 90_000);
  const recoveryMs = Date.now() - backAt;
  expect(done.map((j) => j.status)).toEqual(jobIds.map(() => 'completed'));
  await expectHealed(cluster, hub, repoId, jobIds);
  expect(cluster.workers.map((w) => w.exitCode ?? w.signalCode)).toEqual(cluster.workers.map(() => null));
  // The last claim of any job: how long after the restart the queue and the reaper got work moving.
  const lastStart = Math.max(...done.map((j) => Date.parse(j.started_at)));
  return { recoveryMs, lastStartMs: lastStart - backAt, attempts: done.map((j) => j.attempts as number) };
}

async function jobsDone(cluster: Cluster, jobIds: string[], timeoutMs: number): Promise<any[]> {
  return waitFor(
    `jobs ${jobIds.join(', ')} to finish`,
    async () => {
      const jobs = [];
      for (const id of jobIds) {
        const { status, body } = await cluster.api('GET', `/v1/hub/jobs/${id}`);
        if (status !== 200 || (body.status !== 'completed' && body.status !== 'failed')) return undefined;
        jobs.push(body);
      }
      return jobs;
    },
    timeoutMs,
  ).catch(async (error: Error) => {
    const rows = await cluster
      .query('select id, status, attempts, lease_owner, lease_expires_at from jobs')
      .catch(() => []);
    throw new Error(`${error.message}\n${JSON.stringify(rows)}\n${await cluster.logTail()}`);
  });
}

/** The length of an injected fault: a deliberate wait, not a guess at when something happened. */
export const hold = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
