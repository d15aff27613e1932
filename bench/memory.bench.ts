/**
 * `npm run bench:memory`: the resident memory of the whole server process (`model-hub serve`, built,
 * embedded defaults) idle after start, idle after a sync, and at its peak while downloading one
 * large file (default 5 GiB; BENCH_MEMORY_MIB) from the fake hub in its own process. Read from
 * /proc (VmRSS sampled every 100 ms, VmHWM for the peak). The server runs with the Node flags of
 * `npm start`. Prints the numbers; asserts nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WAN_REPO } from '../test/fake-hub/demo.js';
import { freePort, jsonApi, waitFor } from '../test/support/child-server.js';
import { startFakeHubProcess } from './fake-hub-process.js';
import { startFlags } from './start-flags.js';

const SIZE_MIB = Number(process.env.BENCH_MEMORY_MIB ?? 5 * 1024);
const BIG_FILE = 'diffusion_pytorch_model.safetensors';

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
const upstream = await startFakeHubProcess(['--big-size-mib', String(SIZE_MIB)]);
const store = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-memory-'));
const port = await freePort();
const server = spawn(process.execPath, [...startFlags(), 'dist/src/cli.js', 'serve'], {
  env: {
    ...process.env,
    PORT: String(port),
    MODEL_STORE_PATH: store,
    HF_ENDPOINT: upstream.url,
    DATABASE_URL: '',
    REDIS_URL: '',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});

/** A field of /proc/<pid>/status in MiB (VmRSS: now; VmHWM: the peak so far). */
async function memoryMiB(field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await fs.readFile(`/proc/${server.pid}/status`, 'utf8');
  const kib = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return kib / 1024;
}

try {
  const { api, finished } = jsonApi(() => `http://127.0.0.1:${port}`);
  await waitFor('the server', async () => ((await api('GET', '/healthz')).status === 200 ? true : undefined));
  const idle = await memoryMiB('VmRSS');

  const registered = await api('POST', '/v1/hub/register', {
    vendor: 'Bench',
    name: 'Memory',
    source_repo_id: WAN_REPO,
    auto_sync: true,
  });
  await finished(registered.body.sync_job_id, 300_000);
  const afterSync = await memoryMiB('VmRSS');

  const artifacts = await api('GET', `/v1/hub/models/${registered.body.id}/artifacts`);
  const big = artifacts.body.items.find((a: { path: string }) => a.path === BIG_FILE);
  const peakBefore = await memoryMiB('VmHWM');
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    memoryMiB('VmRSS').then(
      (rss) => {
        sampledPeak = Math.max(sampledPeak, rss);
      },
      () => undefined,
    );
  }, 100);
  const started = performance.now();
  const queued = await api('POST', '/v1/hub/download', { artifact_ids: [big.id] });
  const job = await finished(queued.body.job_id, 3_600_000);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (job.status !== 'completed') throw new Error(`download failed: ${job.error}`);
  const peak = await memoryMiB('VmHWM');

  console.log(`Resident memory of model-hub serve (embedded defaults), one run:`);
  console.log(`  idle after start:            ${idle.toFixed(0)} MiB`);
  console.log(`  idle after syncing ${WAN_REPO}: ${afterSync.toFixed(0)} MiB`);
  console.log(
    `  peak while downloading ${SIZE_MIB} MiB (${(SIZE_MIB / seconds).toFixed(0)} MiB/s): ${peak.toFixed(0)} MiB (sampled ${sampledPeak.toFixed(0)} MiB; peak before the download ${peakBefore.toFixed(0)} MiB)`,
  );
  console.log(`  after the download:          ${(await memoryMiB('VmRSS')).toFixed(0)} MiB`);
} finally {
  server.kill('SIGTERM');
  upstream.stop();
  await fs.rm(store, { recursive: true, force: true });
}
