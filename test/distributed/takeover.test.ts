import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { freePort, jsonApi, killAll, runCli, spawnHub, waitFor } from '../support/child-server.js';
import { contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';
import { readEvents } from '../support/sse-client.js';

/**
 * How fast a dead worker's job moves: one API process and two workers on PostgreSQL + BullMQ with
 * JOB_LEASE_MS=3000. The worker holding a download is killed with -9; the other one must take the
 * job within the lease plus a few seconds, say so (job log, event stream, `model-hub watch`) and
 * resume the file from the partial over parallel ranges.
 */
const LEASE_MS = 3000;
const FILE = 'big.safetensors';
const SIZE = 32 * MiB;
let hub: FakeHub;
let backend: Backend;
let workDir: string;
let base: string;
const children: ChildProcess[] = [];
const { api: request, finished } = jsonApi(() => base);
const api = async (method: string, url: string, body?: unknown) => (await request(method, url, body)).body;

async function start(command: 'serve' | 'worker', env: Record<string, string>): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawnHub(command, {
    ...backend.env,
    MODEL_STORE_PATH: path.join(workDir, 'store'),
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'warn',
    JOB_LEASE_MS: String(LEASE_MS),
    UPSTREAM_RETRY_BASE_MS: '50',
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(8 * MiB),
    DOWNLOAD_CHUNK_BYTES: String(MiB),
    DOWNLOAD_CONNECTIONS_PER_FILE: '4',
    ...(command === 'serve' ? { PORT: String(port), WORKER: 'off' } : { METRICS_PORT: String(port) }),
    ...env,
  });
  children.push(child);
  if (command === 'serve') base = `http://127.0.0.1:${port}`;
  await waitFor(
    `the ${command} on port ${port}`,
    async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined),
    30_000,
  );
  return child;
}

beforeAll(async () => {
  // Per response: 4 connections fetch at 8 MiB/s, so the file takes a few seconds.
  hub = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
  await hub.addRepo({
    id: 'takeover/big',
    files: [{ path: FILE, content: { size: SIZE, seed: 'takeover' } }],
  });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-takeover-'));
  backend = await createBackend();
  await start('serve', {});
  await Promise.all([start('worker', {}), start('worker', {})]);
}, 60_000);

afterAll(async () => {
  killAll(children);
  await hub?.close();
  await backend?.drop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

describe('a worker killed with -9 mid-download', () => {
  it('has its job taken over within the lease plus a few seconds, visibly, and resumed in parallel', async () => {
    const registered = await api('POST', '/v1/hub/register', {
      vendor: 'Takeover',
      name: 'Big',
      source_repo_id: 'takeover/big',
      auto_sync: true,
    });
    expect((await finished(registered.sync_job_id, 30_000)).status).toBe('completed');
    const [artifact] = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items;
    const queued = await api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
    const streamed = readEvents(`${base}/v1/hub/jobs/${queued.job_id}/events`, {
      done: (c) => c.messages.some((m) => m.event === 'job.completed' || m.event === 'job.failed'),
      timeoutMs: 60_000,
    });
    // The watcher must be following the job before the kill: takeover notices are not stored, and
    // a stream opened once the job has ended (this one ends within seconds) replays stored events
    // only; a stream opened while it still runs gets the takeover in its first snapshot.
    let watching: () => void = () => {};
    const following = new Promise<void>((resolve) => {
      watching = resolve;
    });
    const watched = runCli(['watch', queued.job_id], { MODEL_HUB_URL: base }, { onStdout: () => watching() });
    await following;

    const statePath = path.join(workDir, 'store', 'temp', `${artifact.id}.part.json`);
    const committed = await waitFor('a durable checkpoint of at least 4 MiB', async () => {
      const state = JSON.parse(await fs.readFile(statePath, 'utf8'));
      return state.committedBytes >= 4 * MiB ? (state.committedBytes as number) : undefined;
    });
    const running = await api('GET', `/v1/hub/jobs/${queued.job_id}`);
    expect(running.status).toBe('running');
    const dead: string = running.worker;
    const holder = children.find((c) => c.pid === Number(dead.split(':')[1]));
    expect(holder).toBeDefined();
    holder?.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((resolve) => holder?.once('exit', resolve));

    const job = await finished(queued.job_id, 60_000);
    const takeoverMs = Date.parse(job.started_at) - killedAt;
    console.log(
      `takeover after kill -9: the other worker claimed the job ${takeoverMs} ms after the kill (JOB_LEASE_MS=${LEASE_MS})`,
    );
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + 5000);
    const logs = job.logs.join('\n');
    expect(logs).toContain(`Taken back from worker ${dead}: its lease lapsed at `);
    const attempt = /Attempt 2, on worker (\S+) \(taken over from (\S+)\)/.exec(logs);
    expect(attempt?.[2]).toBe(dead);
    const survivor = attempt?.[1] as string;
    expect(survivor).not.toBe(dead);

    // The survivor continued from the partial file: several ranges at once, none from byte 0.
    const resumed = (await contentGets(hub, 'takeover/big', FILE)).filter((r) => r.at >= killedAt);
    expect(resumed.length).toBeGreaterThan(1);
    expect(resumed.every((r) => r.status === 206 && rangeStart(r) >= committed)).toBe(true);
    expect(Math.min(...resumed.map(rangeStart))).toBeLessThan(SIZE - MiB);
    const upstream = await hub.fileInfo('takeover/big', FILE);
    const done = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items[0];
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);

    // The takeover on the event stream: back to pending when the lease lapsed, running on the survivor.
    const takeovers = (await streamed).messages
      .filter((m) => m.event === 'job.progress' && m.data.data.takeover)
      .map((m) => ({ status: m.data.data.status, ...m.data.data.takeover }));
    expect(takeovers).toEqual([
      { status: 'pending', from: dead, to: null },
      { status: 'running', from: dead, to: survivor },
    ]);
    const watch = await watched;
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain(`taken over from worker ${dead} after its lease lapsed; resuming`);
  }, 90_000);
});
