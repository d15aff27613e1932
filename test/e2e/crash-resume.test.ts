import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { jsonApi, type RestartableHub, startRestartableHub, waitFor } from '../support/child-server.js';
import { contentGets, MiB, rangeStart, sha256File } from '../support/download-helpers.js';

/** `kill -9` of the whole server mid-download: the next start resumes the partial file, not byte 0. */
let hub: FakeHub;
let server: RestartableHub;

const { api: request, finished: finishedJob } = jsonApi(() => server.base);
const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(what, probe, 30_000);
const api = async (method: string, url: string, body?: unknown) => (await request(method, url, body)).body;
const finished = (jobId: string) => finishedJob(jobId, 30_000);

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
  await hub.addRepo({
    id: 'crash/big',
    files: [{ path: 'big.safetensors', content: { size: 8 * MiB, seed: 'crash' } }],
  });
  server = await startRestartableHub(hub.url, {
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB),
    UPSTREAM_RETRY_BASE_MS: '50',
  });
});
afterAll(async () => {
  await server?.close();
  await hub?.close();
});

describe('kill -9 during a download', () => {
  it('resumes from the partial file after a restart and stores the right bytes', async () => {
    const first = await server.start();
    const registered = await api('POST', '/v1/hub/register', {
      vendor: 'Crash',
      name: 'Big',
      source_repo_id: 'crash/big',
      auto_sync: true,
    });
    await finished(registered.sync_job_id);
    const [artifact] = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items;
    const queued = await api('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });

    const statePath = path.join(server.storePath, 'temp', `${artifact.id}.part.json`);
    const committed = await until('a durable checkpoint of at least 1 MiB', async () => {
      const state = JSON.parse(await fs.readFile(statePath, 'utf8'));
      return state.committedBytes >= MiB ? (state.committedBytes as number) : undefined;
    });
    await server.crash(first);
    expect(
      (await fs.stat(path.join(server.storePath, 'temp', `${artifact.id}.part`))).size,
    ).toBeGreaterThanOrEqual(committed);

    await server.start();
    const job = await finished(queued.job_id);
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    expect(job.logs.join('\n')).toMatch(/big.safetensors: resuming at byte \d+ of 8388608/);

    const gets = await contentGets(hub, 'crash/big', 'big.safetensors');
    const resumedAt = rangeStart(gets[gets.length - 1] as (typeof gets)[number]);
    expect(gets.length).toBe(2);
    expect(rangeStart(gets[0] as (typeof gets)[number])).toBe(0);
    expect(resumedAt).toBeGreaterThanOrEqual(committed);
    const done = (await api('GET', `/v1/hub/models/${registered.id}/artifacts`)).items[0];
    const upstream = await hub.fileInfo('crash/big', 'big.safetensors');
    expect(done).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
    expect(await sha256File(done.local_path)).toBe(upstream.sha256);
    expect(await fs.readdir(path.join(server.storePath, 'temp'))).toEqual([]);
  }, 60_000);
});
