import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { artifactsOf, downloadAndWait, MiB } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;
const REPO = 'org/gc';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const blobPath = (hash: string) => path.join(t.storePath, 'blobs', 'sha256', hash);
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );
const twoHoursAgo = () => new Date(Date.now() - 2 * 3_600_000);

/** A blob file written by hand, its mtime set in the past unless `recent`. */
async function placeBlob(content: Buffer, recent = false): Promise<string> {
  const hash = sha256(content);
  await fs.writeFile(blobPath(hash), content);
  if (!recent) await fs.utimes(blobPath(hash), twoHoursAgo(), twoHoursAgo());
  return hash;
}

async function gc(body: Record<string, unknown>) {
  const queued = await t.request('POST', '/v1/hub/gc', body);
  expect(queued.status).toBe(202);
  const job = await t.waitForJob(queued.body.job_id);
  expect(job.type).toBe('gc');
  expect(job.status).toBe('completed');
  return job;
}

const orphanOld = Buffer.from('an old orphan nobody references '.repeat(100));
const orphanRecent = Buffer.from('an orphan committed a moment ago');
const orphanLeased = Buffer.from('an orphan whose content lease a download holds');
let pendingWeights: { sha256: string; size: number };
let referenced: string;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { HF_TOKEN: hub.token });
  await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"gc":true}\n' },
      { path: 'a.safetensors', content: { size: MiB, seed: 'gc-a' } },
      { path: 'b.safetensors', content: { size: MiB / 4, seed: 'gc-b' } },
    ],
  });
  const { artifacts } = await registerAndSync(t, REPO, 'Test', 'Gc');
  expect((await downloadAndWait(t, [artifacts.get('a.safetensors').id])).status).toBe('completed');
  referenced = (await artifactsOf(t, REPO)).get('a.safetensors').sha256;
  await fs.utimes(blobPath(referenced), twoHoursAgo(), twoHoursAgo());

  // b.safetensors stays pending; its content already sits in blobs/ (say, left by an import).
  pendingWeights = await hub.fileInfo(REPO, 'b.safetensors');
  await placeBlob(await hub.expectedBytes(REPO, 'b.safetensors'));

  const old = await placeBlob(orphanOld);
  // A metadata link to the old orphan, as a model deleted from the database leaves behind.
  const link = path.join(t.storePath, 'metadata', 'models--gone--model', 'config.json');
  await fs.mkdir(path.dirname(link), { recursive: true });
  await fs.link(blobPath(old), link);
  await placeBlob(orphanRecent, true);
  await placeBlob(orphanLeased);
  await t.app.db
    .insertInto('leases')
    .values({
      key: `content:${sha256(orphanLeased)}`,
      holder: 'another-worker',
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    })
    .execute();
  await fs.writeFile(blobPath('not-a-hash.txt'), 'left alone');
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('gc', () => {
  it('a dry run (the default) lists exactly the old orphan and deletes nothing', async () => {
    const before = (await fs.readdir(path.join(t.storePath, 'blobs', 'sha256'))).sort();
    const job = await gc({});
    expect(job.result).toEqual({
      dry_run: true,
      grace_ms: 3_600_000,
      orphan_blobs: 3,
      collectable_blobs: 1,
      collectable_bytes: orphanOld.length,
      collectable_sha256: [sha256(orphanOld)],
      deleted_blobs: 0,
      freed_bytes: 0,
      metadata_links_removed: 1,
      kept_recent: 1,
      // config.json, a.safetensors, b.safetensors's advertised blob, and the leased orphan.
      kept_referenced: 4,
      unexpected_files: 1,
    });
    expect(job.logs.join('\n')).toContain(
      `Would delete orphan blob ${sha256(orphanOld)} (${orphanOld.length} bytes)`,
    );
    expect((await fs.readdir(path.join(t.storePath, 'blobs', 'sha256'))).sort()).toEqual(before);
    expect(await exists(path.join(t.storePath, 'metadata', 'models--gone--model', 'config.json'))).toBe(true);
  });

  it('frees exactly the old orphan and its metadata link, keeping everything referenced, recent or leased', async () => {
    const job = await gc({ dry_run: false });
    expect(job.result).toMatchObject({
      dry_run: false,
      orphan_blobs: 3,
      collectable_blobs: 1,
      deleted_blobs: 1,
      freed_bytes: orphanOld.length,
      metadata_links_removed: 1,
      kept_recent: 1,
      kept_referenced: 4,
    });
    expect(job.logs.join('\n')).toContain(
      `Deleted orphan blob ${sha256(orphanOld)} (${orphanOld.length} bytes)`,
    );
    expect(await exists(blobPath(sha256(orphanOld)))).toBe(false);
    expect(await exists(path.join(t.storePath, 'metadata', 'models--gone--model', 'config.json'))).toBe(
      false,
    );
    for (const kept of [
      referenced,
      pendingWeights.sha256,
      sha256(orphanRecent),
      sha256(orphanLeased),
      'not-a-hash.txt',
    ]) {
      expect(await exists(blobPath(kept))).toBe(true);
    }
    const config = (await artifactsOf(t, REPO)).get('config.json');
    expect(await exists(config.local_path)).toBe(true);
    expect(await exists(path.join(t.storePath, 'metadata', 'models--org--gc', 'config.json'))).toBe(true);

    // The pending artifact is completed from the blob GC kept, without a download.
    hub.resetRequests();
    const pending = (await artifactsOf(t, REPO)).get('b.safetensors');
    const download = await downloadAndWait(t, [pending.id]);
    expect(download.result).toMatchObject({ deduplicated: 1, downloaded: 0 });
    expect(hub.requests.filter((r) => r.server === 'cdn')).toEqual([]);
  });

  it('collects a leased orphan once its content lease is released', async () => {
    await t.app.db.deleteFrom('leases').where('holder', '=', 'another-worker').execute();
    const job = await gc({ dry_run: false });
    expect(job.result).toMatchObject({ deleted_blobs: 1, freed_bytes: orphanLeased.length, kept_recent: 1 });
    expect(await exists(blobPath(sha256(orphanLeased)))).toBe(false);
  });
});
