import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { artifactsOf as sharedArtifactsOf } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;

const MiB = 1024 * 1024;
const shared = { size: 2 * MiB + 17, seed: 'shared-weights' };

beforeAll(async () => {
  hub = await startFakeHub();
  // Text files above 100 kB are left for download jobs instead of being fetched by the sync.
  t = await startTestApp(hub.url, { HF_TOKEN: hub.token, METADATA_MAX_BYTES: '100000' });
  await hub.addRepo({
    id: 'org/alpha',
    files: [
      { path: 'config.json', content: '{"a":1}\n' },
      { path: 'model.safetensors', content: shared },
      { path: 'extra.bin', content: { size: 3 * MiB, seed: 'alpha-extra' } },
      { path: 'notes.txt', content: { size: 300_000, seed: 'alpha-notes' }, lfs: false },
      { path: 'flaky.bin', content: { size: MiB, seed: 'flaky' } },
      { path: 'cut.bin', content: { size: MiB, seed: 'cut' } },
      { path: 'tampered.bin', content: { size: MiB, seed: 'tampered' } },
      { path: 'tampered.txt', content: { size: 200_000, seed: 'tampered-text' }, lfs: false },
    ],
  });
  await hub.addRepo({ id: 'org/beta', files: [{ path: 'weights/copy.safetensors', content: shared }] });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});
beforeEach(() => {
  hub.clearFaults();
  hub.resetRequests();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function download(ids: string[]) {
  const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: ids });
  expect(queued.status).toBe(202);
  expect(queued.body).toMatchObject({ status: 'pending' });
  expect(queued.body.message).toContain(`${ids.length} artifact(s)`);
  return t.waitForJob(queued.body.job_id);
}

const artifactsOf = (repoId: string) => sharedArtifactsOf(t, repoId);

describe('download', () => {
  it('downloads an LFS file through the CDN redirect and a plain file, verified and stored by sha256', async () => {
    const { artifacts } = await registerAndSync(t, 'org/alpha', 'Org', 'Alpha');
    await registerAndSync(t, 'org/beta', 'Org', 'Beta');
    hub.resetRequests();
    const weights = artifacts.get('model.safetensors');
    const notes = artifacts.get('notes.txt');
    const job = await download([weights.id, notes.id]);
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ artifacts: 2, downloaded: 2, failed: 0 });
    expect(job.logs.join('\n')).toMatch(
      /Downloaded model.safetensors: 2097169 bytes in .* sha256 [0-9a-f]{64} verified/,
    );

    const after = await artifactsOf('org/alpha');
    for (const [file, artifact] of [
      ['model.safetensors', after.get('model.safetensors')],
      ['notes.txt', after.get('notes.txt')],
    ]) {
      const expected = await hub.expectedBytes('org/alpha', file);
      const info = await hub.fileInfo('org/alpha', file);
      const stored = await fs.readFile(artifact.local_path);
      expect(stored.equals(expected)).toBe(true);
      expect(sha256(stored)).toBe(info.sha256);
      expect(path.basename(artifact.local_path)).toBe(info.sha256);
      expect(artifact).toMatchObject({
        download_status: 'completed',
        sha256: info.sha256,
        bytes_downloaded: info.size,
        error: null,
      });
    }
    // The token went to the hub, never to the CDN host it redirected to.
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn.length).toBe(1);
    expect(cdn.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(
      hub.requests
        .filter((r) => r.server === 'hub')
        .every((r) => r.headers.authorization === `Bearer ${hub.token}`),
    ).toBe(true);
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
  });

  it('never downloads the same content twice: identical files in two repos share one blob', async () => {
    hub.resetRequests();
    const beta = await artifactsOf('org/beta');
    const copy = beta.get('weights/copy.safetensors');
    const job = await download([copy.id]);
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ downloaded: 0, deduplicated: 1 });
    expect(hub.requests.filter((r) => r.server === 'cdn' || r.path.includes('/resolve/'))).toEqual([]);
    const alpha = await artifactsOf('org/alpha');
    const done = (await artifactsOf('org/beta')).get('weights/copy.safetensors');
    expect(done.local_path).toBe(alpha.get('model.safetensors').local_path);
    expect(await fs.readdir(path.join(t.storePath, 'blobs', 'sha256'))).toContain(done.sha256);
  });

  it('retries a 503 and a dropped connection and still stores verified bytes', async () => {
    const alpha = await artifactsOf('org/alpha');
    hub.addFault({ filePath: 'flaky.bin', status: 503, retryAfterSeconds: 0, times: 2 });
    hub.addFault({ filePath: 'cut.bin', dropAfterBytes: 100_000 });
    const job = await download([alpha.get('flaky.bin').id, alpha.get('cut.bin').id]);
    expect(job.status).toBe('completed');
    expect(job.logs.filter((l: string) => l.includes('(flaky.bin from byte')).length).toBe(2);
    expect(job.logs.some((l: string) => l.includes('(cut.bin from byte'))).toBe(true);
    const after = await artifactsOf('org/alpha');
    for (const file of ['flaky.bin', 'cut.bin']) {
      const stored = await fs.readFile(after.get(file).local_path);
      expect(sha256(stored)).toBe((await hub.fileInfo('org/alpha', file)).sha256);
    }
  });

  it('fails corrupted content with an IntegrityError naming both hashes, and stores no blob', async () => {
    const alpha = await artifactsOf('org/alpha');
    hub.addFault({ filePath: 'tampered.bin', corrupt: true, times: 10 });
    hub.addFault({ filePath: 'tampered.txt', corrupt: true, times: 10 });
    const blobsBefore = await fs.readdir(path.join(t.storePath, 'blobs', 'sha256'));
    const job = await download([alpha.get('tampered.bin').id, alpha.get('tampered.txt').id]);
    expect(job.status).toBe('failed');
    expect(job.error).toContain('2 of 2 artifact(s) failed');
    const after = await artifactsOf('org/alpha');
    const bin = after.get('tampered.bin');
    const txt = after.get('tampered.txt');
    const binInfo = await hub.fileInfo('org/alpha', 'tampered.bin');
    const txtInfo = await hub.fileInfo('org/alpha', 'tampered.txt');
    expect(bin).toMatchObject({ download_status: 'failed', sha256: null, local_path: null });
    expect(bin.error).toMatch(
      new RegExp(`IntegrityError: tampered.bin: expected sha256 ${binInfo.sha256}, got [0-9a-f]{64}`),
    );
    expect(txt.error).toMatch(
      new RegExp(`IntegrityError: tampered.txt: expected git-sha1 ${txtInfo.gitSha1}, got [0-9a-f]{40}`),
    );
    expect(job.error).toContain(bin.error);
    expect(await fs.readdir(path.join(t.storePath, 'blobs', 'sha256'))).toEqual(blobsBefore);
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
  });

  it('fails fast on a file that vanished upstream with the hub error', async () => {
    const alpha = await artifactsOf('org/alpha');
    hub.addFault({ filePath: 'extra.bin', status: 404, times: 10 });
    const job = await download([alpha.get('extra.bin').id]);
    expect(job.status).toBe('failed');
    expect(hub.requests.filter((r) => r.path.endsWith('extra.bin')).length).toBe(1);
    expect((await artifactsOf('org/alpha')).get('extra.bin').error).toContain('HTTP 404');
  });
});
