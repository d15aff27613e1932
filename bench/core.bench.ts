/**
 * `npm run bench:core`: what the core service costs on this machine, measured in one run.
 * The fake hub runs in its own process (as upstream would), the app in this one.
 *  1. Sync of a 10,000-file repo (10 tree pages + batched artifact upserts), first and unchanged re-sync.
 *  2. Download of one large LFS file (default 1 GiB; BENCH_DOWNLOAD_MIB) through the CDN redirect:
 *     stream + SHA-256 + verify + fsync + rename, next to `curl -o /dev/null` of the same URL.
 * Prints measured numbers and ratios; asserts nothing about speed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MANY_FILES_REPO, WAN_REPO } from '../test/fake-hub/demo.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';

const MiB = 1024 * 1024;
const FILES = Number(process.env.BENCH_SYNC_FILES ?? 10_000);
const DOWNLOAD_MIB = Number(process.env.BENCH_DOWNLOAD_MIB ?? 1024);

const hubProcess = await startFakeHubProcess([
  '--big-size-mib',
  String(DOWNLOAD_MIB),
  '--many-files',
  String(FILES),
]);
const hubUrl = hubProcess.url;

const t = await startTestApp(hubUrl, { LOG_LEVEL: 'silent' });
try {
  await t.request('POST', '/v1/hub/register', {
    vendor: 'Bench',
    name: 'Many',
    source_repo_id: MANY_FILES_REPO,
  });
  for (const label of ['first sync', 'unchanged re-sync']) {
    const started = performance.now();
    const queued = await t.request('POST', '/v1/hub/sync', { repo_id: MANY_FILES_REPO });
    const job = await t.waitForJob(queued.body.job_id, 300_000);
    const seconds = (performance.now() - started) / 1000;
    if (job.status !== 'completed') throw new Error(`sync failed: ${job.error}`);
    console.log(
      `sync ${FILES} files (${label}): ${seconds.toFixed(2)} s, ${(FILES / seconds).toFixed(0)} files/s ` +
        `(created ${job.result.created}, unchanged ${job.result.unchanged})`,
    );
  }

  const reg = await t.request('POST', '/v1/hub/register', {
    vendor: 'Wan-AI',
    name: 'Wan',
    source_repo_id: WAN_REPO,
    auto_sync: true,
  });
  await t.waitForJob(reg.body.sync_job_id);
  const artifacts = await t.request('GET', `/v1/hub/models/${reg.body.id}/artifacts`);
  const artifact = artifacts.body.items.find(
    (a: { path: string }) => a.path === 'diffusion_pytorch_model.safetensors',
  );

  const curlStarted = performance.now();
  await promisify(execFile)('curl', [
    '-sSL',
    '-o',
    '/dev/null',
    `${hubUrl}/${WAN_REPO}/resolve/main/${artifact.path}`,
  ]);
  const curlSeconds = (performance.now() - curlStarted) / 1000;

  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const started = performance.now();
  const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
  const job = await t.waitForJob(queued.body.job_id, 600_000);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (job.status !== 'completed') throw new Error(`download failed: ${job.error}`);
  const mbps = (s: number) => (artifact.size / 1e6 / s).toFixed(1);
  console.log(
    `curl -o /dev/null, ${DOWNLOAD_MIB} MiB: ${curlSeconds.toFixed(2)} s, ${mbps(curlSeconds)} MB/s`,
  );
  console.log(
    `model hub download, ${DOWNLOAD_MIB} MiB (stream + sha256 + verify + fsync + store): ${seconds.toFixed(2)} s, ` +
      `${mbps(seconds)} MB/s = ${(curlSeconds / seconds).toFixed(2)}x curl-to-/dev/null; RSS ${(baselineRss / MiB).toFixed(0)} → peak ${(peakRss / MiB).toFixed(0)} MiB`,
  );
} finally {
  await t.close();
  hubProcess.stop();
}
