/**
 * `npm run bench:download`: one large file, downloaded every way, in one run on this machine.
 *
 *  unthrottled (BENCH_SIZE_MIB, default 2048):
 *    curl -o file · curl | tee file | openssl dgst -sha256 · Model Hub single stream · Model Hub parallel
 *  throttled per connection (BENCH_THROTTLES, default 50 MB/s with 512 MiB and 20 MB/s with 256 MiB):
 *    Model Hub single stream · Model Hub parallel (up to 8 connections)
 *  plus what a resume costs: re-hashing a 1 GiB partial prefix from disk.
 *
 * Model Hub's numbers include everything it does: stream, SHA-256, verify, fsync, rename into
 * blobs/. The fake hub runs in its own process. Prints MB/s and ratios; asserts nothing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ContentHasher } from '../src/store/content-hasher.js';
import { WAN_REPO } from '../test/fake-hub/demo.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 2048);
/** `<MB/s per connection>:<MiB>` pairs for the throttled runs. */
const THROTTLES = (process.env.BENCH_THROTTLES ?? '50:512,20:256').split(',').map((pair) => {
  const [mbps, mib] = pair.split(':').map(Number);
  return { mbps: mbps ?? 50, mib: mib ?? 512 };
});
const FILE = 'diffusion_pytorch_model.safetensors';
const run = promisify(execFile);
const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-download-'));

function startHub(sizeMiB: number, throttleBytesPerSecond = 0) {
  return startFakeHubProcess([
    '--big-size-mib',
    String(sizeMiB),
    '--throttle-bytes-per-second',
    String(throttleBytesPerSecond),
  ]);
}

async function timed(label: string, bytes: number, work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const mbps = bytes / 1e6 / seconds;
  console.log(`${label.padEnd(58)} ${seconds.toFixed(2).padStart(7)} s ${mbps.toFixed(0).padStart(6)} MB/s`);
  return mbps;
}

/** One Model Hub download of the big file, in a fresh app and store. */
async function modelHub(
  hubUrl: string,
  env: Record<string, string>,
): Promise<{ run: () => Promise<void>; peakRss: () => number }> {
  const t = await startTestApp(hubUrl, { LOG_LEVEL: 'silent', ...env });
  const reg = await t.request('POST', '/v1/hub/register', {
    vendor: 'Wan-AI',
    name: 'Wan',
    source_repo_id: WAN_REPO,
    auto_sync: true,
  });
  await t.waitForJob(reg.body.sync_job_id, 120_000);
  const items = (await t.request('GET', `/v1/hub/models/${reg.body.id}/artifacts`)).body.items as {
    id: string;
    path: string;
  }[];
  const artifact = items.find((a) => a.path === FILE);
  if (!artifact) throw new Error('no artifact');
  let peak = process.memoryUsage().rss;
  return {
    peakRss: () => peak,
    run: async () => {
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 100);
      try {
        const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
        const job = await t.waitForJob(queued.body.job_id, 900_000);
        if (job.status !== 'completed') throw new Error(`download failed: ${job.error}`);
      } finally {
        clearInterval(sampler);
        await t.close();
      }
    },
  };
}

const single = { DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * 1024 * MiB) };
const parallel = { DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(64 * MiB), DOWNLOAD_CONNECTIONS_PER_FILE: '8' };

try {
  console.log(`unthrottled, ${SIZE_MIB} MiB over loopback (${os.cpus().length} cores):`);
  const hub = await startHub(SIZE_MIB);
  const url = `${hub.url}/${WAN_REPO}/resolve/main/${FILE}`;
  const out = path.join(workDir, 'curl.out');
  const bytes = SIZE_MIB * MiB;
  const curl = await timed('curl -o file', bytes, () => run('curl', ['-sSL', '-o', out, url]));
  await fsp.rm(out, { force: true });
  const pipeline = await timed('curl | tee file | openssl dgst -sha256', bytes, () =>
    run('bash', [
      '-c',
      `set -o pipefail; curl -sSL '${url}' | tee '${out}' | openssl dgst -sha256 >/dev/null`,
    ]),
  );
  const rehash = await timed(
    're-hash a 1 GiB partial prefix (what a resume costs)',
    Math.min(bytes, 1024 * MiB),
    async () => {
      const hasher = new ContentHasher();
      const stream = fs.createReadStream(out, { end: Math.min(bytes, 1024 * MiB) - 1, highWaterMark: MiB });
      for await (const chunk of stream as AsyncIterable<Buffer>) hasher.update(chunk);
      hasher.digest();
    },
  );
  await fsp.rm(out, { force: true });
  const singleRun = await modelHub(hub.url, single);
  const hubSingle = await timed(
    'Model Hub, single stream (download+sha256+verify+fsync)',
    bytes,
    singleRun.run,
  );
  const parallelRun = await modelHub(hub.url, parallel);
  const hubParallel = await timed(
    'Model Hub, up to 8 parallel ranges (download+sha256+verify+fsync)',
    bytes,
    parallelRun.run,
  );
  hub.stop();

  const throttled: { mbps: number; ratio: number }[] = [];
  for (const { mbps, mib } of THROTTLES) {
    console.log(`\nthrottled to ${mbps} MB/s per connection, ${mib} MiB:`);
    const slow = await startHub(mib, mbps * 1e6);
    const throttledBytes = mib * MiB;
    const slowSingle = await timed(
      'Model Hub, single stream',
      throttledBytes,
      (await modelHub(slow.url, single)).run,
    );
    const slowParallel = await timed(
      'Model Hub, up to 8 parallel ranges',
      throttledBytes,
      (await modelHub(slow.url, parallel)).run,
    );
    throttled.push({ mbps, ratio: slowParallel / slowSingle });
    slow.stop();
  }

  console.log('\nratios:');
  console.log(
    `  Model Hub parallel / curl|tee|openssl  = ${(hubParallel / pipeline).toFixed(2)}x (target >= 1.2x)`,
  );
  console.log(`  Model Hub single   / curl|tee|openssl  = ${(hubSingle / pipeline).toFixed(2)}x`);
  console.log(`  Model Hub parallel / curl -o file      = ${(hubParallel / curl).toFixed(2)}x`);
  for (const { mbps, ratio } of throttled) {
    console.log(`  throttled ${mbps} MB/s/conn: parallel / single = ${ratio.toFixed(2)}x (target >= 6x)`);
  }
  console.log(`  resume: re-hashing the prefix runs at ${rehash.toFixed(0)} MB/s`);
  console.log(`  peak RSS during the parallel download: ${(parallelRun.peakRss() / MiB).toFixed(0)} MiB`);
} finally {
  await fsp.rm(workDir, { recursive: true, force: true });
}
