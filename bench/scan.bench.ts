/**
 * `npm run bench:scan`: the deep-scan hashing rate on this machine. Writes BENCH_SCAN_BLOBS blobs of
 * BENCH_SCAN_BLOB_MIB each (default 8 × 256 MiB = 2 GiB) of random bytes into a fresh store, records
 * them as completed artifacts, runs a deep `scan` job through the app and prints its MB/s next to
 * `sha256sum` over the same files. The files were just written, so both read from the page cache:
 * this measures hashing, not the disk. Asserts nothing.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestApp } from '../test/support/test-app.js';

const MiB = 1024 * 1024;
const BLOBS = Number(process.env.BENCH_SCAN_BLOBS ?? 8);
const BLOB_MIB = Number(process.env.BENCH_SCAN_BLOB_MIB ?? 256);
const run = promisify(execFile);

// No upstream is contacted: the artifacts are recorded as already downloaded.
const t = await startTestApp('http://127.0.0.1:9', { LOG_LEVEL: 'silent' });
try {
  const at = new Date().toISOString();
  const modelId = randomUUID();
  await t.app.db
    .insertInto('modelRepos')
    .values({
      id: modelId,
      vendor: 'Bench',
      name: 'Scan',
      repoId: 'bench/scan',
      revision: 'main',
      commitSha: null,
      status: 'synced',
      error: null,
      lastSyncedAt: at,
      createdAt: at,
      updatedAt: at,
    })
    .execute();
  const files: string[] = [];
  for (let i = 0; i < BLOBS; i++) {
    const chunk = randomBytes(MiB);
    const hash = createHash('sha256');
    const staging = path.join(t.storePath, 'temp', `bench-${i}`);
    const handle = await fs.open(staging, 'w');
    for (let m = 0; m < BLOB_MIB; m++) {
      chunk.writeUInt32LE(m, 0); // distinct content per MiB and per blob
      chunk.writeUInt32LE(i, 4);
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.close();
    const sha256 = hash.digest('hex');
    const blob = path.join(t.storePath, 'blobs', 'sha256', sha256);
    await fs.rename(staging, blob);
    files.push(blob);
    await t.app.db
      .insertInto('artifacts')
      .values({
        id: randomUUID(),
        modelId,
        path: `model-${i}.safetensors`,
        size: BLOB_MIB * MiB,
        fileType: 'model',
        upstreamOid: null,
        upstreamSha256: sha256,
        commitSha: null,
        downloadStatus: 'completed',
        sha256,
        localPath: `blobs/sha256/${sha256}`,
        error: null,
        removedAt: null,
        createdAt: at,
        updatedAt: at,
      })
      .execute();
  }
  const totalBytes = BLOBS * BLOB_MIB * MiB;
  console.log(`${BLOBS} blobs × ${BLOB_MIB} MiB = ${(totalBytes / 2 ** 30).toFixed(2)} GiB`);

  const started = performance.now();
  const queued = await t.request('POST', '/v1/hub/scan', { deep: true });
  const job = await t.waitForJob(queued.body.job_id, 30 * 60_000);
  const seconds = (performance.now() - started) / 1000;
  if (job.status !== 'completed') throw new Error(`scan ${job.status}: ${job.error}`);
  console.log(
    `Model Hub deep scan (hashing)      ${job.result.deep_hash_mb_per_second} MB/s ` +
      `(${job.result.blobs_hashed} blobs, ${job.result.bytes_hashed} bytes, ${job.result.corrupt_quarantined} corrupt)`,
  );
  console.log(
    `Model Hub deep scan (job, end to end) ${(totalBytes / 1e6 / seconds).toFixed(1)} MB/s in ${seconds.toFixed(2)} s`,
  );
  try {
    const baseline = performance.now();
    await run('sha256sum', files, { maxBuffer: 16 * MiB });
    const baselineSeconds = (performance.now() - baseline) / 1000;
    console.log(
      `sha256sum over the same files      ${(totalBytes / 1e6 / baselineSeconds).toFixed(1)} MB/s in ${baselineSeconds.toFixed(2)} s`,
    );
  } catch {
    console.log('sha256sum not available; no baseline');
  }
} finally {
  await t.close();
}
