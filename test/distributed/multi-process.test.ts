import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { freePort, jsonApi, killAll, spawnHub, waitFor } from '../support/child-server.js';
import { contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';
import { readEvents } from '../support/sse-client.js';

/**
 * One API process (WORKER=off) and two worker processes on PostgreSQL + BullMQ and one store:
 * every file is fetched once however the jobs overlap, and a worker killed with -9 mid-download
 * has its job finished by the other one, resumed from the partial file it left.
 */
let hub: FakeHub;
let backend: Backend;
let workDir: string;
let base: string;
const children: ChildProcess[] = [];
const { api: request, finished } = jsonApi(() => base);
const api = async (method: string, url: string, body?: unknown) => (await request(method, url, body)).body;

function start(command: 'serve' | 'worker', env: Record<string, string>): ChildProcess {
  const child = spawnHub(command, {
    ...backend.env,
    MODEL_STORE_PATH: path.join(workDir, 'store'),
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'warn',
    JOB_LEASE_MS: '2000',
    UPSTREAM_RETRY_BASE_MS: '50',
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB),
    ...env,
  });
  children.push(child);
  return child;
}

async function registerAndSync(repoId: string, name: string): Promise<any> {
  const registered = await api('POST', '/v1/hub/register', {
    vendor: 'Multi',
    name,
    source_repo_id: repoId,
    auto_sync: true,
  });
  expect((await finished(registered.sync_job_id, 30_000)).status).toBe('completed');
  return registered;
}

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 8 * MiB });
  const files = Array.from({ length: 6 }, (_, i) => ({
    path: `shard-${i}.safetensors`,
    content: { size: 2 * MiB, seed: `multi-${i}` },
  }));
  await hub.addRepo({ id: 'multi/shards', files: [{ path: 'config.json', content: '{"a":1}' }, ...files] });
  await hub.addRepo({
    id: 'multi/big',
    files: [{ path: 'big.safetensors', content: { size: 12 * MiB, seed: 'multi-big' } }],
  });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-multi-'));
  backend = await createBackend();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  start('serve', { PORT: String(port), WORKER: 'off' });
  await waitFor('the API', async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), 30_000);
}, 60_000);

afterAll(async () => {
  killAll(children);
  await hub?.close();
  await backend?.drop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

describe('one API and two workers', () => {
  it('downloads a whole repo once across both workers, even with overlapping jobs', async () => {
    const workers = [start('worker', {}), start('worker', {})];
    const registered = await registerAndSync('multi/shards', 'Shards');
    const artifacts = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items as any[];
    // One job per file and one for the whole repo: every file is wanted by two jobs at once.
    const jobIds: string[] = [];
    for (const artifact of artifacts) {
      jobIds.push((await api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] })).job_id);
    }
    jobIds.push((await api('POST', '/v1/hub/download', { repo_id: 'multi/shards' })).job_id);
    const runners = new Set<string>();
    const results = await Promise.all(
      jobIds.map((id) =>
        waitFor(
          `job ${id}`,
          async () => {
            const job = await api('GET', `/v1/hub/jobs/${id}`);
            if (job.worker) runners.add(job.worker.split(':')[1]);
            return job.status === 'completed' || job.status === 'failed' ? job : undefined;
          },
          60_000,
        ),
      ),
    );
    expect(results.map((j) => j.status)).toEqual(jobIds.map(() => 'completed'));
    // Both worker processes ran jobs (pids are the second part of `host:pid:nonce`).
    expect([...runners].sort()).toEqual(workers.map((w) => String(w.pid)).sort());

    const done = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items as any[];
    for (const artifact of done) {
      const upstream = await hub.fileInfo('multi/shards', artifact.path);
      expect(artifact).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
      expect(await sha256File(artifact.local_path)).toBe(upstream.sha256);
      // Exactly one GET of each file's bytes reached the hub, from whichever worker got it first.
      expect(await contentGets(hub, 'multi/shards', artifact.path)).toHaveLength(1);
    }
  }, 90_000);

  it('finishes the job of a worker killed with -9 on the other worker, from its partial file', async () => {
    const registered = await registerAndSync('multi/big', 'Big');
    const [artifact] = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items;
    const queued = await api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
    // The API process runs no job: what its event stream shows came from the workers over Redis.
    const streamed = readEvents(`${base}/v1/hub/jobs/${queued.job_id}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.completed' || m.event === 'job.failed'),
      timeoutMs: 60_000,
    });
    const statePath = path.join(workDir, 'store', 'temp', `${artifact.id}.part.json`);
    const committed = await waitFor('a durable checkpoint of at least 2 MiB', async () => {
      const state = JSON.parse(await fs.readFile(statePath, 'utf8'));
      return state.committedBytes >= 2 * MiB ? (state.committedBytes as number) : undefined;
    });
    const running = await api('GET', `/v1/hub/jobs/${queued.job_id}`);
    expect(running.status).toBe('running');
    const holderPid = Number(running.worker.split(':')[1]);
    const holder = children.find((c) => c.pid === holderPid);
    expect(holder).toBeDefined();
    holder?.kill('SIGKILL');
    await new Promise((resolve) => holder?.once('exit', resolve));

    const job = await finished(queued.job_id, 60_000);
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    const attempt = /Attempt 2, on worker [^:]+:(\d+):\S+ \(taken over from (\S+)\)/.exec(
      job.logs.join('\n'),
    );
    expect(Number(attempt?.[1])).not.toBe(holderPid);
    expect(attempt?.[2]).toBe(running.worker);
    const gets = await contentGets(hub, 'multi/big', 'big.safetensors');
    expect(gets).toHaveLength(2);
    expect(rangeStart(gets[1] as (typeof gets)[number])).toBeGreaterThanOrEqual(committed);
    const upstream = await hub.fileInfo('multi/big', 'big.safetensors');
    const done = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items[0];
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);

    const events = (await streamed).messages;
    const stored = events.filter((m) => m.id !== undefined).map((m) => m.event);
    expect(stored).toEqual(['job.created', 'artifact.completed', 'job.completed']);
    // Snapshots only: the takeover's own events are checked in takeover.test.ts.
    const progress = events.filter((m) => m.event === 'job.progress' && !m.data.data.takeover);
    expect(progress.length).toBeGreaterThan(0);
    // Published by the worker that was killed (at most once a second, so it may trail the checkpoint).
    for (const m of progress) {
      expect(m.data.data).toMatchObject({ status: 'running', files_total: 1, bytes_total: 12 * MiB });
    }
    expect(progress.some((m) => m.data.data.bytes_done > 0)).toBe(true);
  }, 90_000);
});
