import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { artifactsOf, downloadAndWait, MiB, sha256File } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;
const REPO = 'org/scan';

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { HF_TOKEN: hub.token, PROGRESS_INTERVAL_MS: '50' });
  await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"hidden_size":8}\n' },
      { path: 'tokenizer.json', content: '{"vocab":["a","b"]}\n' },
      { path: 'model.safetensors', content: { size: MiB + 3, seed: 'scan-model' } },
      { path: 'extra.bin', content: { size: MiB / 2, seed: 'scan-extra' } },
    ],
  });
  const { artifacts } = await registerAndSync(t, REPO, 'Test', 'Scan');
  const job = await downloadAndWait(
    t,
    [...artifacts.values()].map((a) => a.id),
  );
  expect(job.status).toBe('completed');
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const blobsDir = () => path.join(t.storePath, 'blobs', 'sha256');
const metadataFile = (p: string) => path.join(t.storePath, 'metadata', 'models--org--scan', p);
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

async function scan(body: Record<string, unknown> = {}) {
  const queued = await t.request('POST', '/v1/hub/scan', body);
  expect(queued.status).toBe(202);
  expect(queued.body).toMatchObject({ status: 'pending' });
  const job = await t.waitForJob(queued.body.job_id);
  expect(job.status).toBe('completed');
  return job;
}

async function flipByte(file: string, offset: number) {
  const handle = await fs.open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    await handle.write(Buffer.from([(byte[0] ?? 0) ^ 0xff]), 0, 1, offset);
  } finally {
    await handle.close();
  }
}

async function redownload(file: string) {
  const artifact = (await artifactsOf(t, REPO)).get(file);
  const job = await downloadAndWait(t, [artifact.id]);
  expect(job.status).toBe('completed');
  const after = (await artifactsOf(t, REPO)).get(file);
  const info = await hub.fileInfo(REPO, file);
  expect(after).toMatchObject({ download_status: 'completed', sha256: info.sha256 });
  expect(await sha256File(after.local_path)).toBe(info.sha256);
}

describe('scan', () => {
  it('finds a blob deleted by hand: the artifact is pending again, and a re-download fixes it', async () => {
    const before = (await artifactsOf(t, REPO)).get('model.safetensors');
    await fs.rm(before.local_path);

    const job = await scan();
    expect(job.type).toBe('scan');
    expect(job.result).toMatchObject({
      artifacts_checked: 4,
      missing_blobs: 1,
      reset_to_pending: 1,
      orphan_blobs: 0,
      corrupt_quarantined: 0,
      blobs_hashed: 0,
    });
    expect(job.logs.join('\n')).toContain(
      `Reset ${REPO}:model.safetensors to pending: blob ${before.sha256} is missing`,
    );
    // A plain scan reports progress in blobs checked: the missing one counts as failed.
    expect(job.progress).toMatchObject({ files_done: job.progress.files_total - 1, files_failed: 1 });
    expect(job.progress.files_total).toBeGreaterThan(1);
    const after = (await artifactsOf(t, REPO)).get('model.safetensors');
    expect(after).toMatchObject({
      download_status: 'pending',
      sha256: null,
      local_path: null,
      bytes_downloaded: 0,
    });

    await redownload('model.safetensors');
    expect((await scan()).result).toMatchObject({ missing_blobs: 0, reset_to_pending: 0 });
  });

  it('deep scan re-hashes every blob and quarantines those whose byte flipped', async () => {
    const extra = (await artifactsOf(t, REPO)).get('extra.bin');
    const tokenizer = (await artifactsOf(t, REPO)).get('tokenizer.json');
    await flipByte(extra.local_path, 1000);
    // The tokenizer's metadata file is a hard link to its blob: it is corrupted with it.
    await flipByte(tokenizer.local_path, 3);

    // A shallow scan trusts the name; only re-hashing finds the flip.
    expect((await scan()).result).toMatchObject({ missing_blobs: 0, corrupt_quarantined: 0 });

    const job = await scan({ deep: true });
    const all = await artifactsOf(t, REPO);
    const totalBytes = [...all.values()].reduce((sum, a) => sum + a.size, 0);
    expect(job.result).toMatchObject({
      blobs_hashed: 4,
      bytes_hashed: totalBytes,
      corrupt_quarantined: 2,
      reset_to_pending: 2,
      metadata_removed: 1,
      missing_blobs: 0,
    });
    expect(job.result.deep_hash_mb_per_second).toBeGreaterThan(0);
    expect(job.progress).toMatchObject({
      files_total: 4,
      files_done: 2,
      files_failed: 2,
      bytes_total: totalBytes,
    });
    expect(job.logs.join('\n')).toMatch(
      new RegExp(`Corrupt blob ${extra.sha256} .* moved to quarantine/sha256/${extra.sha256}\\.\\d+`),
    );

    expect(job.logs.join('\n')).toContain(
      'Removed metadata/models--org--scan/tokenizer.json: a link to the corrupt blob',
    );

    const quarantined = (await fs.readdir(path.join(t.storePath, 'quarantine', 'sha256'))).sort();
    expect(quarantined).toHaveLength(2);
    for (const artifact of [extra, tokenizer]) {
      expect(await exists(path.join(blobsDir(), artifact.sha256))).toBe(false);
      expect(quarantined.some((name) => new RegExp(`^${artifact.sha256}\\.\\d+$`).test(name))).toBe(true);
      expect(all.get(artifact.path)).toMatchObject({
        download_status: 'pending',
        sha256: null,
        local_path: null,
      });
    }
    expect(await exists(metadataFile('tokenizer.json'))).toBe(false);

    await redownload('extra.bin');
    await redownload('tokenizer.json');
    expect(
      (await fs.readFile(metadataFile('tokenizer.json'))).equals(
        await hub.expectedBytes(REPO, 'tokenizer.json'),
      ),
    ).toBe(true);
    // Re-materializing a metadata file that already links its blob leaves no staging file behind.
    expect((await fs.readdir(path.dirname(metadataFile('tokenizer.json')))).sort()).toEqual([
      'config.json',
      'tokenizer.json',
    ]);
    expect((await scan({ deep: true })).result).toMatchObject({ corrupt_quarantined: 0, blobs_hashed: 4 });
  });

  it('reports an orphan blob with its size and removes a stale temp file, keeping live ones', async () => {
    const orphan = Buffer.from('content no artifact points at');
    await fs.writeFile(path.join(blobsDir(), sha256(orphan)), orphan);
    await fs.writeFile(path.join(blobsDir(), 'notes.txt'), 'not a blob');
    const old = new Date(Date.now() - 48 * 3_600_000);

    const stale = path.join(t.storePath, 'temp', `${randomUUID()}.part`);
    await fs.writeFile(stale, Buffer.alloc(4096, 1));
    await fs.utimes(stale, old, old);

    // An old partial whose content lease a worker holds is a live, resumable transfer.
    const weights = (await artifactsOf(t, REPO)).get('model.safetensors');
    const leased = path.join(t.storePath, 'temp', `${weights.id}.part`);
    await fs.writeFile(leased, Buffer.alloc(100, 2));
    await fs.utimes(leased, old, old);
    await t.app.db
      .insertInto('leases')
      .values({
        key: `content:${weights.upstream_sha256}`,
        holder: 'another-worker',
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      })
      .execute();

    // A fresh partial of an artifact that is downloading.
    const config = (await artifactsOf(t, REPO)).get('config.json');
    await t.app.db
      .updateTable('artifacts')
      .set({ downloadStatus: 'downloading' })
      .where('id', '=', config.id)
      .execute();
    const fresh = path.join(t.storePath, 'temp', `${config.id}.part`);
    await fs.writeFile(fresh, Buffer.alloc(10, 3));

    try {
      const job = await scan();
      expect(job.result).toMatchObject({
        orphan_blobs: 1,
        orphan_bytes: orphan.length,
        unexpected_files: 1,
        stale_temp_removed: 1,
        stale_temp_bytes: 4096,
        stale_temp_kept_live: 1,
      });
      const logs = job.logs.join('\n');
      expect(logs).toContain(`Orphan blob ${sha256(orphan)} (${orphan.length} bytes)`);
      expect(logs).toContain('Unexpected entry blobs/sha256/notes.txt');
      expect(logs).toContain(`Removed stale temp file temp/${path.basename(stale)} (4096 bytes)`);
      expect(await exists(stale)).toBe(false);
      expect(await exists(leased)).toBe(true);
      expect(await exists(fresh)).toBe(true);
      // Scan reports; it never deletes a blob or touches a file it does not own.
      expect(await exists(path.join(blobsDir(), sha256(orphan)))).toBe(true);
      expect(await exists(path.join(blobsDir(), 'notes.txt'))).toBe(true);

      // Limited to one repo, the store-wide orphan and temp checks do not run.
      expect((await scan({ repo_id: REPO })).result).toMatchObject({
        artifacts_checked: 3,
        orphan_blobs: 0,
        stale_temp_removed: 0,
      });
    } finally {
      await t.app.db
        .updateTable('artifacts')
        .set({ downloadStatus: 'completed' })
        .where('id', '=', config.id)
        .execute();
      await t.app.db.deleteFrom('leases').where('holder', '=', 'another-worker').execute();
      await Promise.all(
        [leased, fresh, path.join(blobsDir(), sha256(orphan)), path.join(blobsDir(), 'notes.txt')].map((f) =>
          fs.rm(f),
        ),
      );
    }
  });

  it('repairs a deleted and a replaced metadata file', async () => {
    await fs.rm(metadataFile('config.json'));
    await fs.rm(metadataFile('tokenizer.json'));
    await fs.writeFile(metadataFile('tokenizer.json'), '{"vocab":["edited"]}\n');

    const job = await scan();
    expect(job.result).toMatchObject({ metadata_repaired: 2, missing_blobs: 0 });
    expect(job.logs.join('\n')).toContain(
      'Repaired metadata file metadata/models--org--scan/config.json (was missing)',
    );
    expect(job.logs.join('\n')).toContain(
      'Repaired metadata file metadata/models--org--scan/tokenizer.json (differed from its blob)',
    );
    for (const file of ['config.json', 'tokenizer.json']) {
      expect((await fs.readFile(metadataFile(file))).equals(await hub.expectedBytes(REPO, file))).toBe(true);
    }
    expect((await scan()).result).toMatchObject({ metadata_repaired: 0 });
  });

  it('refuses a repo that is not registered', async () => {
    const response = await t.request('POST', '/v1/hub/scan', { repo_id: 'org/unknown' });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('REPO_NOT_FOUND');
  });
});
