import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitBlobSha1 } from '../../src/store/content-hasher.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { jsonApi, type RestartableHub, startRestartableHub, waitFor } from '../support/child-server.js';

/**
 * `kill -9` of the whole server while a sync commits small files in groups: whatever instant the
 * kill lands on (files fetched, blobs renamed, rows written), no blob in blobs/ fails its hash and
 * no artifact is completed without its blob; the restarted server finishes the sync.
 */
const FILES = 3000;
let hub: FakeHub;
let server: RestartableHub;

const { api: request, finished: finishedJob } = jsonApi(() => server.base);
const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(what, probe, 60_000);
const api = async (method: string, url: string, body?: unknown) => (await request(method, url, body)).body;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function expectEveryBlobVerified(): Promise<number> {
  const dir = path.join(server.storePath, 'blobs', 'sha256');
  const names = await fs.readdir(dir);
  for (const name of names) expect(sha256(await fs.readFile(path.join(dir, name)))).toBe(name);
  return names.length;
}

async function expectCompletedVerified(modelId: string): Promise<number> {
  const { items } = await api('GET', `/v1/hub/models/${modelId}/artifacts`);
  const completed = items.filter((a: any) => a.download_status === 'completed');
  for (const a of completed) expect(gitBlobSha1(await fs.readFile(a.local_path))).toBe(a.upstream_oid);
  return completed.length;
}

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({
    id: 'crash/small',
    files: Array.from({ length: FILES }, (_, i) => ({
      path: `configs/${i % 50}/file-${i}.json`,
      content: `{"file": ${i}, "pad": "${'y'.repeat(200 + ((i * 7919) % 1000))}"}\n`,
      lfs: false,
    })),
  });
  server = await startRestartableHub(hub.url);
});
afterAll(async () => {
  await server?.close();
  await hub?.close();
});

describe('kill -9 during a group commit of small files', () => {
  it('leaves only verified blobs, no completed row without its blob, and the restarted server finishes', async () => {
    const first = await server.start();
    const registered = await api('POST', '/v1/hub/register', {
      vendor: 'Crash',
      name: 'Small',
      source_repo_id: 'crash/small',
      auto_sync: true,
    });
    const blobsDir = path.join(server.storePath, 'blobs', 'sha256');
    // Some groups committed, most not yet: the kill lands in the middle of the stream of groups.
    await until('a few hundred blobs stored', async () => {
      const names = await fs.readdir(blobsDir).catch(() => []);
      return names.length >= 300 ? true : undefined;
    });
    await server.crash(first);
    const blobsAtCrash = await expectEveryBlobVerified();
    expect(blobsAtCrash).toBeLessThan(FILES);

    await server.start();
    // Rows completed before the kill name blobs that survived it.
    await expectCompletedVerified(registered.id);
    const job = await finishedJob(registered.sync_job_id, 120_000);
    expect(job.status).toBe('completed');
    expect(job.attempts).toBe(2);
    expect(await expectCompletedVerified(registered.id)).toBe(FILES);
    expect(await expectEveryBlobVerified()).toBe(FILES);
    // Temp files of the killed run are stale, not content: a scan removes them later.
    const temp = await fs.readdir(path.join(server.storePath, 'temp'));
    expect(temp.every((name) => /\.part\.[0-9a-f]{12}\.tmp$/.test(name))).toBe(true);
  }, 180_000);
});
