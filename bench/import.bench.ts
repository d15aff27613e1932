/**
 * `npm run bench:import`: importing a multi-GiB Hugging Face cache that sits on the store's file
 * system (BENCH_SIZE_MIB, default 3072, over BENCH_FILES files, default 3). Such an import should
 * cost hashing time only: every file is hard-linked, not copied. Prints the import's GiB/s next to
 * plain SHA-256 of the same bytes (one stream, Node's crypto) and `sha256sum`; asserts nothing.
 * The cache files were just written, so they are read from the page cache (warm).
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { ContentHasher } from '../src/store/content-hasher.js';
import { contentStream } from '../test/fake-hub/content.js';
import { startFakeHub } from '../test/fake-hub/fake-hub.js';
import { registerAndSync, startTestApp } from '../test/support/test-app.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 3072);
const FILES = Number(process.env.BENCH_FILES ?? 3);
const REPO = 'bench/cached';
const run = promisify(execFile);

const hub = await startFakeHub();
const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-import-'));
const t = await startTestApp(hub.url, { HF_TOKEN: hub.token, IMPORT_ROOTS: workDir });
try {
  const specs = Array.from({ length: FILES }, (_, i) => ({
    path: `model-${String(i + 1).padStart(5, '0')}-of-${String(FILES).padStart(5, '0')}.safetensors`,
    content: { size: Math.floor((SIZE_MIB * MiB) / FILES), seed: `bench-import-${i}` },
  }));
  const { commit } = await hub.addRepo({ id: REPO, files: specs });
  await registerAndSync(t, REPO);

  const repoDir = path.join(workDir, 'hub', 'models--bench--cached');
  await fsp.mkdir(path.join(repoDir, 'blobs'), { recursive: true });
  await fsp.mkdir(path.join(repoDir, 'snapshots', commit), { recursive: true });
  await fsp.mkdir(path.join(repoDir, 'refs'), { recursive: true });
  await fsp.writeFile(path.join(repoDir, 'refs', 'main'), commit);
  let totalBytes = 0;
  for (const spec of specs) {
    const { sha256 } = await hub.fileInfo(REPO, spec.path);
    const blob = path.join(repoDir, 'blobs', sha256);
    await pipeline(contentStream(spec.content), createWriteStream(blob));
    await fsp.symlink(`../../blobs/${sha256}`, path.join(repoDir, 'snapshots', commit, spec.path));
    totalBytes += spec.content.size;
  }
  const gib = totalBytes / GiB;
  console.log(
    `HF cache: ${FILES} files, ${gib.toFixed(2)} GiB in ${repoDir} (same file system as the store)`,
  );

  const report = (label: string, seconds: number) =>
    console.log(
      `${label.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s ${(gib / seconds).toFixed(2).padStart(6)} GiB/s`,
    );

  const firstBlob = path.join(repoDir, 'blobs', (await hub.fileInfo(REPO, specs[0]?.path ?? '')).sha256);
  const firstGib = (specs[0]?.content.size ?? 0) / GiB;
  let started = performance.now();
  const hasher = new ContentHasher();
  for await (const chunk of (await fsp.open(firstBlob)).createReadStream({ highWaterMark: 4 * MiB })) {
    hasher.update(chunk as Buffer);
  }
  await hasher.digest();
  let seconds = (performance.now() - started) / 1000;
  console.log(
    `${'Node sha256 of one file (baseline)'.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s ${(firstGib / seconds).toFixed(2).padStart(6)} GiB/s`,
  );
  started = performance.now();
  await run('sha256sum', [firstBlob]);
  seconds = (performance.now() - started) / 1000;
  console.log(
    `${'sha256sum of one file (baseline)'.padEnd(44)} ${seconds.toFixed(2).padStart(7)} s ${(firstGib / seconds).toFixed(2).padStart(6)} GiB/s`,
  );

  started = performance.now();
  const queued = await t.request('POST', '/v1/hub/import', { path: path.join(workDir, 'hub') });
  const job = await t.waitForJob(queued.body.job_id, 30 * 60_000);
  seconds = (performance.now() - started) / 1000;
  if (job.status !== 'completed') throw new Error(`import failed: ${job.error}`);
  report('Model Hub import (hash, verify, link, commit)', seconds);
  console.log(`result: ${JSON.stringify(job.result)}`);
} finally {
  await t.close();
  await hub.close();
  await fsp.rm(workDir, { recursive: true, force: true });
}
