import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { MiB } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/** GET /v1/hub/storage, pinning, and deleting a model with and without collecting its blobs. */
let hub: FakeHub;
let t: TestApp;
const shared = { size: MiB, seed: 'storage-shared' };
const CONFIG = '{"storage":true}';

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { METADATA_MAX_BYTES: '100000' });
  await hub.addRepo({
    id: 'store/first',
    files: [
      { path: 'config.json', content: CONFIG },
      { path: 'shared.safetensors', content: shared },
      { path: 'own.safetensors', content: { size: 2 * MiB, seed: 'storage-first-own' } },
    ],
  });
  await hub.addRepo({
    id: 'store/second',
    files: [
      { path: 'config.json', content: CONFIG },
      { path: 'copy.safetensors', content: shared },
      { path: 'own.bin', content: { size: 3 * MiB, seed: 'storage-second-own' } },
    ],
  });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

async function syncAndDownload(repoId: string) {
  const { model, artifacts } = await registerAndSync(t, repoId, 'Store', repoId.split('/')[1]);
  const queued = await t.request('POST', '/v1/hub/download', { repo_id: repoId });
  expect((await t.waitForJob(queued.body.job_id)).status).toBe('completed');
  return { model, artifacts };
}

const blobPath = (sha256: string) => path.join(t.storePath, 'blobs', 'sha256', sha256);
const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

describe('storage', () => {
  let first: any;
  let second: any;

  it('reports blobs, bytes saved by dedup, per-model logical and unique bytes, and free disk', async () => {
    first = await syncAndDownload('store/first');
    second = await syncAndDownload('store/second');
    const { status, body } = await t.request('GET', '/v1/hub/storage');
    expect(status).toBe(200);
    const configBytes = Buffer.byteLength(CONFIG);
    // Distinct contents: the config, the shared weights, and each repo's own file.
    expect(body.blob_count).toBe(4);
    expect(body.blob_bytes).toBe(configBytes + MiB + 2 * MiB + 3 * MiB);
    expect(body.logical_bytes).toBe(2 * configBytes + 2 * MiB + 2 * MiB + 3 * MiB);
    expect(body.dedup_saved_bytes).toBe(configBytes + MiB);
    expect(body.disk.free_bytes).toBeGreaterThan(0);
    expect(body.disk.total_bytes).toBeGreaterThanOrEqual(body.disk.free_bytes);
    const byRepo = new Map(body.models.map((m: any) => [m.repo_id, m]));
    expect(byRepo.get('store/first')).toMatchObject({
      id: first.model.id,
      pinned: false,
      files: 3,
      logical_bytes: configBytes + MiB + 2 * MiB,
      unique_bytes: 2 * MiB,
    });
    expect(byRepo.get('store/second')).toMatchObject({
      files: 3,
      logical_bytes: configBytes + MiB + 3 * MiB,
      unique_bytes: 3 * MiB,
    });
  });

  it('pins and unpins a model', async () => {
    const pinned = await t.request('PATCH', `/v1/hub/models/${first.model.id}`, { pinned: true });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ id: first.model.id, pinned: true });
    expect((await t.request('GET', `/v1/hub/models/${first.model.id}`)).body.pinned).toBe(true);
    const storage = await t.request('GET', '/v1/hub/storage');
    expect(storage.body.models.find((m: any) => m.id === first.model.id).pinned).toBe(true);
    const unpinned = await t.request('PATCH', `/v1/hub/models/${first.model.id}`, { pinned: false });
    expect(unpinned.body.pinned).toBe(false);

    expect((await t.request('PATCH', `/v1/hub/models/${first.model.id}`, { pinned: 'yes' })).status).toBe(
      400,
    );
    expect((await t.request('PATCH', `/v1/hub/models/${first.model.id}`, { color: 'red' })).status).toBe(400);
    const unknown = await t.request('PATCH', '/v1/hub/models/00000000-0000-4000-8000-000000000000', {
      pinned: true,
    });
    expect(unknown.status).toBe(404);
  });

  it('deletes a model and its artifacts but keeps its blobs unless purged', async () => {
    const deleted = await t.request('DELETE', `/v1/hub/models/${second.model.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({
      deleted: { id: second.model.id, repo_id: 'store/second' },
      gc_job_id: null,
    });
    expect((await t.request('GET', `/v1/hub/models/${second.model.id}`)).status).toBe(404);
    expect((await t.request('GET', `/v1/hub/models/${second.model.id}/artifacts`)).status).toBe(404);
    const upstream = await hub.fileInfo('store/second', 'own.bin');
    expect(await exists(blobPath(upstream.sha256))).toBe(true);
    expect((await t.request('DELETE', `/v1/hub/models/${second.model.id}`)).status).toBe(404);
    expect((await t.request('DELETE', `/v1/hub/models/${second.model.id}?purge=maybe`)).status).toBe(400);
  });

  it('with purge=true, a gc job collects the blobs only that model used', async () => {
    const ownSha = (await hub.fileInfo('store/first', 'own.safetensors')).sha256;
    const sharedSha = (await hub.fileInfo('store/first', 'shared.safetensors')).sha256;
    // Another model still uses the shared weights: register the copy again.
    await syncAndDownload('store/second');
    const deleted = await t.request('DELETE', `/v1/hub/models/${first.model.id}?purge=true`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.gc_job_id).toMatch(/^[0-9a-f-]{36}$/);
    const gc = await t.waitForJob(deleted.body.gc_job_id);
    expect(gc).toMatchObject({ type: 'gc', status: 'completed' });
    expect(await exists(blobPath(ownSha))).toBe(false);
    expect(await exists(blobPath(sharedSha))).toBe(true);
    const storage = await t.request('GET', '/v1/hub/storage');
    expect(storage.body.models.map((m: any) => m.repo_id)).toEqual(['store/second']);
  });
});
