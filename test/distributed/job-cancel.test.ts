import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { jsonApi, waitFor } from '../support/child-server.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';
import { readEvents } from '../support/sse-client.js';

/**
 * Cancel across processes: one API process (WORKER=off) and two worker processes on PostgreSQL +
 * BullMQ. The API never runs a job, so a cancel it answers `cancelled` was confirmed by the worker
 * process running the download (told over Redis pub/sub), which stays up, keeps the partial file for
 * a retry to resume; a job whose worker was killed is ended `cancelled`, never taken over.
 */
const LEASE_MS = 2000;
const SIZE = 12 * MiB;
let hub: FakeHub;
let backend: Backend;
let cluster: Cluster;
let base: string;
const { api: request, finished } = jsonApi(() => base);
const api = async (method: string, url: string, body?: unknown) => (await request(method, url, body)).body;

const partialState = async (artifactId: string) =>
  JSON.parse(await fs.readFile(path.join(cluster.storePath, 'temp', `${artifactId}.part.json`), 'utf8'));

/** A download of `file` running on some worker, once it has a durable checkpoint of 1 MiB or more. */
async function runningDownload(model: any, file: string) {
  const artifacts = (await api('GET', `/v1/hub/models/${model.id}/artifacts`)).items as any[];
  const artifact = artifacts.find((a) => a.path === file);
  const queued = await api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
  const committed = await waitFor('a durable checkpoint of at least 1 MiB', async () => {
    const state = await partialState(artifact.id);
    return state.committedBytes >= MiB ? (state.committedBytes as number) : undefined;
  });
  const running = await api('GET', `/v1/hub/jobs/${queued.job_id}`);
  expect(running.status).toBe('running');
  const holder = cluster.workers.find((c) => c.pid === Number(running.worker.split(':')[1]));
  expect(holder).toBeDefined();
  return { artifact, jobId: queued.job_id as string, committed, worker: running.worker as string, holder };
}

let model: any;
beforeAll(async () => {
  // Per response: one connection takes about 6 s for a file.
  hub = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
  await hub.addRepo({
    id: 'cancel/big',
    files: [
      { path: 'first.safetensors', content: { size: SIZE, seed: 'cancel-first' } },
      { path: 'second.safetensors', content: { size: SIZE, seed: 'cancel-second' } },
      { path: 'small.safetensors', content: { size: 64 * 1024, seed: 'cancel-small' } },
    ],
  });
  backend = await createBackend();
  cluster = await startCluster({
    databaseUrl: backend.env.DATABASE_URL as string,
    redisUrl: backend.env.REDIS_URL as string,
    hub,
    workers: 2,
    env: {
      JOB_LEASE_MS: String(LEASE_MS),
      // One connection per file, so a cancel stops one transfer.
      DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB),
    },
  });
  base = cluster.base;
  model = await api('POST', '/v1/hub/register', {
    vendor: 'Cancel',
    name: 'Big',
    source_repo_id: 'cancel/big',
    auto_sync: true,
  });
  expect((await finished(model.sync_job_id, 30_000)).status).toBe('completed');
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await hub?.close();
  await backend?.drop();
});

describe('cancel in a distributed deployment', () => {
  it('stops a download running in another worker process, which keeps its partial for the retry', async () => {
    const { artifact, jobId, committed, worker, holder } = await runningDownload(model, 'first.safetensors');
    const streamed = readEvents(`${base}/v1/hub/jobs/${jobId}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.cancelled'),
      timeoutMs: 30_000,
    });

    const cancelled = await request('POST', `/v1/hub/jobs/${jobId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', attempts: 1, worker: null });
    expect(cancelled.body.logs.at(-1)).toContain('Cancelled on request');
    // Stopped, not killed: the worker process that ran it is still up.
    expect(holder?.exitCode).toBeNull();
    expect(holder?.signalCode).toBeNull();
    const events = (await streamed).messages.filter((m) => m.id !== undefined);
    expect(events.map((m) => m.event)).toEqual(['job.created', 'job.cancelled']);
    expect(events[1]?.data.data).toMatchObject({ type: 'download', stopped_by: 'worker' });

    const kept = (await partialState(artifact.id)).committedBytes as number;
    expect(kept).toBeGreaterThanOrEqual(committed);
    expect(kept).toBeLessThan(SIZE);
    const artifacts = (await api('GET', `/v1/hub/models/${model.id}/artifacts`)).items as any[];
    expect(artifacts.find((a) => a.id === artifact.id)).toMatchObject({ download_status: 'pending' });

    const retryAt = Date.now();
    const accepted = await request('POST', `/v1/hub/jobs/${jobId}/retry`);
    expect(accepted.status).toBe(202);
    const retried = await finished(accepted.body.job_id, 60_000);
    expect(retried).toMatchObject({ status: 'completed', retry_of: jobId });
    const gets = (await contentGets(hub, 'cancel/big', 'first.safetensors')).filter((r) => r.at >= retryAt);
    expect(gets.map((r) => [r.status, rangeStart(r)])).toEqual([[206, kept]]);
    const upstream = await hub.fileInfo('cancel/big', 'first.safetensors');
    const done = (await api('GET', `/v1/hub/models/${model.id}/artifacts`)).items.find(
      (a: any) => a.id === artifact.id,
    );
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);
    console.log(`cancelled on worker ${worker}; the retry resumed at byte ${kept} of ${SIZE}`);
  }, 90_000);

  it('ends the job of a worker killed with -9 cancelled, and no other worker runs it again', async () => {
    const { artifact, jobId, holder } = await runningDownload(model, 'second.safetensors');
    holder?.kill('SIGKILL');
    await new Promise((resolve) => holder?.once('exit', resolve));

    // No live worker holds it: once its lease lapses it is ended here, not taken back.
    const cancelled = await waitFor('the job cancelled', async () => {
      const answer = await request('POST', `/v1/hub/jobs/${jobId}/cancel`);
      expect(answer.status).toBe(200);
      return answer.body.status === 'cancelled' ? answer.body : undefined;
    });
    expect(cancelled).toMatchObject({ attempts: 1, worker: null });

    // The survivor works through its queue (a later job completes), and still never claims the old one.
    const small = (await api('GET', `/v1/hub/models/${model.id}/artifacts`)).items.find(
      (a: any) => a.path === 'small.safetensors',
    );
    const later = await api('POST', '/v1/hub/download', { artifact_ids: [small.id] });
    expect((await finished(later.job_id, 30_000)).status).toBe('completed');
    const after = await api('GET', `/v1/hub/jobs/${jobId}`);
    expect(after).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(after.logs.join('\n')).not.toContain('Attempt 2');
    const stream = await readEvents(`${base}/v1/hub/jobs/${jobId}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.cancelled'),
      timeoutMs: 10_000,
    });
    const stored = stream.messages.filter((m) => m.id !== undefined);
    expect(stored.map((m) => m.event)).toEqual(['job.created', 'job.cancelled']);
    expect(stored[1]?.data.data.stopped_by).toBe('reaper');
    // Its file is pending again (the reaper saw its content lock lapse), the partial kept.
    await waitFor('the artifact pending again', async () => {
      const rows = (await api('GET', `/v1/hub/models/${model.id}/artifacts`)).items as any[];
      return rows.find((a) => a.id === artifact.id)?.download_status === 'pending' ? true : undefined;
    });
    expect((await partialState(artifact.id)).committedBytes).toBeGreaterThan(0);
  }, 90_000);
});
