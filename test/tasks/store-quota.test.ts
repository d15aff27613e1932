import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { MiB } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * STORE_MAX_BYTES: after a download the store shrinks back under its quota by evicting the least
 * recently used blobs of unpinned models; their artifacts go back to pending and download again.
 */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  // 7 MiB of room: the pinned 3 MiB, then 2 MiB + 2 MiB unpinned; the third unpinned file overflows.
  t = await startTestApp(hub.url, { STORE_MAX_BYTES: String(7 * MiB), METADATA_MAX_BYTES: '0' });
  await hub.addRepo({
    id: 'quota/pinned',
    files: [{ path: 'keep.bin', content: { size: 3 * MiB, seed: 'q-keep' } }],
  });
  await hub.addRepo({
    id: 'quota/old',
    files: [{ path: 'old.bin', content: { size: 2 * MiB, seed: 'q-old' } }],
  });
  await hub.addRepo({
    id: 'quota/mid',
    files: [{ path: 'mid.bin', content: { size: 2 * MiB, seed: 'q-mid' } }],
  });
  await hub.addRepo({
    id: 'quota/new',
    files: [{ path: 'new.bin', content: { size: 2 * MiB, seed: 'q-new' } }],
  });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

async function download(repoId: string) {
  const queued = await t.request('POST', '/v1/hub/download', { repo_id: repoId });
  return t.waitForJob(queued.body.job_id);
}

const blobExists = (sha256: string) =>
  fs.stat(path.join(t.storePath, 'blobs', 'sha256', sha256)).then(
    () => true,
    () => false,
  );

async function artifactOf(modelId: string) {
  return (await t.request('GET', `/v1/hub/models/${modelId}/artifacts`)).body.items[0];
}

describe('store quota', () => {
  it('evicts the least recently used unpinned blob, never a pinned one, and downloads it again on demand', async () => {
    const pinned = (await registerAndSync(t, 'quota/pinned', 'Quota', 'Pinned')).model;
    const old = (await registerAndSync(t, 'quota/old', 'Quota', 'Old')).model;
    const mid = (await registerAndSync(t, 'quota/mid', 'Quota', 'Mid')).model;
    const fresh = (await registerAndSync(t, 'quota/new', 'Quota', 'New')).model;
    expect((await t.request('PATCH', `/v1/hub/models/${pinned.id}`, { pinned: true })).status).toBe(200);

    // The pinned model is the oldest download: only the pin keeps it.
    for (const repo of ['quota/pinned', 'quota/old', 'quota/mid']) {
      expect((await download(repo)).status).toBe('completed');
    }
    const before = await t.request('GET', '/v1/hub/storage');
    expect(before.body).toMatchObject({ blob_bytes: 7 * MiB, quota_bytes: 7 * MiB });

    const job = await download('quota/new');
    expect(job.status).toBe('completed');
    expect(job.logs.join('\n')).toMatch(/over its quota .*evicted 1 blob/);

    const sha = async (repo: string, file: string) => (await hub.fileInfo(repo, file)).sha256;
    expect(await blobExists(await sha('quota/pinned', 'keep.bin'))).toBe(true);
    expect(await blobExists(await sha('quota/old', 'old.bin'))).toBe(false);
    expect(await blobExists(await sha('quota/mid', 'mid.bin'))).toBe(true);
    expect(await blobExists(await sha('quota/new', 'new.bin'))).toBe(true);
    expect(await artifactOf(old.id)).toMatchObject({ download_status: 'pending', sha256: null });
    expect(await artifactOf(pinned.id)).toMatchObject({ download_status: 'completed' });
    expect(await artifactOf(fresh.id)).toMatchObject({ download_status: 'completed' });
    expect(await artifactOf(mid.id)).toMatchObject({ download_status: 'completed' });
    const after = await t.request('GET', '/v1/hub/storage');
    expect(after.body.blob_bytes).toBeLessThanOrEqual(7 * MiB);

    // On demand again: the evicted file downloads, and now `mid` is the least recently used.
    hub.resetRequests();
    expect((await download('quota/old')).status).toBe('completed');
    expect(await artifactOf(old.id)).toMatchObject({ download_status: 'completed' });
    expect(await blobExists(await sha('quota/old', 'old.bin'))).toBe(true);
    expect(await blobExists(await sha('quota/mid', 'mid.bin'))).toBe(false);
    expect(await blobExists(await sha('quota/pinned', 'keep.bin'))).toBe(true);
    expect(await artifactOf(mid.id)).toMatchObject({ download_status: 'pending' });
  });
});
