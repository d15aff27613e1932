/**
 * `npm run bench:download`: one large file, downloaded every way, in one run on this machine.
 *
 *  unthrottled (BENCH_SIZE_MIB, default 1024), each way BENCH_ROUNDS times (default 4, an even
 *  number: each Model Hub mode runs right after the pipeline in half the rounds), interleaved,
 *  median shown:
 *    curl | tee file | openssl dgst -sha256 · Model Hub with default settings · Model Hub single stream
 *  the same again while a CPU-bound process (`node -e 'for(;;){}'`) shares the machine;
 *  throttled per connection (BENCH_THROTTLES, default 50 MB/s over the same file size):
 *    Model Hub single stream once · Model Hub default (adaptive, up to 8 connections) BENCH_ROUNDS
 *    times, median shown
 *  plus what a resume costs (re-hashing a 1 GiB partial prefix from disk) and where hashing on the
 *  worker thread starts to pay (the inline threshold).
 *
 * Model Hub's numbers include everything it does: stream, SHA-256, verify, fsync, rename into
 * blobs/ (from the download request to the job's `finished_at`, the job looked at four times a second
 * as a client elsewhere would; starting and closing the app are not counted, as removing curl's
 * output is not). The fake hub runs in its own process; one untimed
 * curl first warms it up. BENCH_PARTS (default `idle,busy,throttled,crossover`) picks the parts.
 * Prints MB/s and ratios; asserts nothing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FileHasher } from '../src/store/file-hasher.js';
import { HashWorker } from '../src/store/hash-worker.js';
import { WAN_REPO } from '../test/fake-hub/demo.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';
import { timeJob } from './job-timing.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
/** `<MB/s per connection>:<MiB>` pairs for the throttled runs. */
const THROTTLES = (process.env.BENCH_THROTTLES ?? `50:${SIZE_MIB}`)
  .split(',')
  .filter(Boolean)
  .map((pair) => {
    const [mbps, mib] = pair.split(':').map(Number);
    return { mbps: mbps ?? 50, mib: mib ?? 512 };
  });
const PARTS = new Set((process.env.BENCH_PARTS ?? 'idle,busy,throttled,crossover').split(','));
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

/**
 * Times `work`; if it returns a number, that is its own measure of the seconds that count. Dirty
 * pages of the run before are written back first (untimed), so no run pays for the one before it.
 */
async function timed(label: string, bytes: number, work: () => Promise<unknown>): Promise<number> {
  await run('sync', []);
  const started = performance.now();
  const own = await work();
  const seconds = typeof own === 'number' ? own : (performance.now() - started) / 1000;
  const mbps = bytes / 1e6 / seconds;
  console.log(`${label.padEnd(58)} ${seconds.toFixed(2).padStart(7)} s ${mbps.toFixed(0).padStart(6)} MB/s`);
  return mbps;
}

/** One Model Hub download of the big file, in a fresh app and store. */
async function modelHub(
  hubUrl: string,
  env: Record<string, string>,
): Promise<{ run: () => Promise<number>; peakRss: () => number }> {
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
    /**
     * Seconds from the request to the job's end: the blob verified, fsynced and stored (closing the app
     * is not counted).
     */
    run: async () => {
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 100);
      try {
        const started = Date.now();
        const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
        const { job, seconds } = await timeJob(t, queued.body.job_id, started, 900_000);
        if (job.status !== 'completed') throw new Error(`download failed: ${job.error}`);
        return seconds;
      } finally {
        clearInterval(sampler);
        await t.close();
      }
    },
  };
}

/** Everything at its default but the one file forced onto one connection. */
const single = { DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * 1024 * MiB) };
const defaults = {};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function startCpuBurner(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
}

interface Row {
  pipeline: number;
  hubDefault: number;
  hubSingle: number;
}

/** ROUNDS interleaved runs of the three ways over one hub; medians. */
async function unthrottledRow(label: string, hubUrl: string, bytes: number): Promise<Row> {
  console.log(`\n${label}:`);
  const url = `${hubUrl}/${WAN_REPO}/resolve/main/${FILE}`;
  const out = path.join(workDir, 'curl.out');
  const runs: Row[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pipeline = await timed('  curl | tee file | openssl dgst -sha256', bytes, () =>
      run('bash', [
        '-c',
        `set -o pipefail; curl -sSL '${url}' | tee '${out}' | openssl dgst -sha256 >/dev/null`,
      ]),
    );
    await fsp.rm(out, { force: true });
    const runDefault = async () =>
      timed(
        '  Model Hub, default settings (download+sha256+verify+fsync)',
        bytes,
        (await modelHub(hubUrl, defaults)).run,
      );
    const runSingle = async () =>
      timed('  Model Hub, single stream', bytes, (await modelHub(hubUrl, single)).run);
    let hubDefault: number;
    let hubSingle: number;
    // Alternate which goes first: the run right after the pipeline is the slow one here (the disk is
    // slower for a while after a large file is freed), so each mode gets that place equally often.
    if (round % 2 === 1) {
      hubSingle = await runSingle();
      hubDefault = await runDefault();
    } else {
      hubDefault = await runDefault();
      hubSingle = await runSingle();
    }
    runs.push({ pipeline, hubDefault, hubSingle });
  }
  return {
    pipeline: median(runs.map((r) => r.pipeline)),
    hubDefault: median(runs.map((r) => r.hubDefault)),
    hubSingle: median(runs.map((r) => r.hubSingle)),
  };
}

/** Per-file cost of hashing inline and on the worker, for small sizes: where the threshold belongs. */
async function hashCrossover(): Promise<string[]> {
  const worker = new HashWorker();
  const lines: string[] = [];
  try {
    for (const size of [4 * 1024, 64 * 1024, 256 * 1024, MiB, 4 * MiB, 16 * MiB]) {
      const file = path.join(workDir, `crossover-${size}`);
      await fsp.writeFile(file, randomBytes(size));
      const perFile: Record<string, number> = {};
      for (const where of ['inline', 'worker'] as const) {
        const count = Math.max(8, Math.min(400, Math.floor((64 * MiB) / size)));
        let busyMs = 0;
        const started = performance.now();
        for (let i = 0; i < count; i++) {
          const hasher = new FileHasher(file, {
            worker: where === 'worker' ? worker : undefined,
            expectedBytes: Number.MAX_SAFE_INTEGER,
          });
          const t = performance.now();
          // As completed 1 MiB writes hand the file to the hash.
          for (let at = MiB; at < size + MiB; at += MiB) hasher.hashTo(Math.min(at, size));
          busyMs += performance.now() - t;
          await hasher.digest();
        }
        perFile[where] = ((performance.now() - started) / count) * 1000;
        perFile[`${where}Busy`] = (busyMs / count) * 1000;
      }
      lines.push(
        `  ${String(size / 1024).padStart(6)} KiB: inline ${perFile.inline?.toFixed(0)} us; worker ${perFile.worker?.toFixed(0)} us per file, of which ${perFile.workerBusy?.toFixed(0)} us on the event loop`,
      );
    }
  } finally {
    await worker.close();
  }
  return lines;
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

try {
  const bytes = SIZE_MIB * MiB;
  console.log(`${SIZE_MIB} MiB over loopback (${os.cpus().length} cores), median of ${ROUNDS}`);
  const hub = await startHub(SIZE_MIB);
  const url = `${hub.url}/${WAN_REPO}/resolve/main/${FILE}`;
  await run('curl', ['-sSL', '-o', '/dev/null', url]);
  const idle = PARTS.has('idle') ? await unthrottledRow('unthrottled', hub.url, bytes) : undefined;
  let busy: Row | undefined;
  if (PARTS.has('busy')) {
    const burner = startCpuBurner();
    try {
      busy = await unthrottledRow(
        "unthrottled, with a CPU-bound process running (node -e 'for(;;){}')",
        hub.url,
        bytes,
      );
    } finally {
      burner.kill('SIGKILL');
    }
  }
  let rehash: number | undefined;
  if (PARTS.has('idle')) {
    const out = path.join(workDir, 'prefix.out');
    await run('curl', ['-sSL', '-o', out, url]);
    const prefixBytes = Math.min(bytes, 1024 * MiB);
    rehash = await timed('\nre-hash a 1 GiB partial prefix (what a resume costs)', prefixBytes, async () => {
      const worker = new HashWorker();
      const hasher = new FileHasher(out, { worker, expectedBytes: prefixBytes });
      hasher.hashTo(prefixBytes);
      await hasher.digest();
      await worker.close();
    });
    await fsp.rm(out, { force: true });
  }
  hub.stop();

  const throttled: { mbps: number; single: number; parallel: number }[] = [];
  for (const { mbps, mib } of PARTS.has('throttled') ? THROTTLES : []) {
    console.log(`\nthrottled to ${mbps} MB/s per connection, ${mib} MiB:`);
    const slow = await startHub(mib, mbps * 1e6);
    const throttledBytes = mib * MiB;
    const slowSingle = await timed(
      '  Model Hub, single stream',
      throttledBytes,
      (await modelHub(slow.url, single)).run,
    );
    // The default mode as often as the unthrottled rows run each way (the single stream's rate is
    // the throttle's): one slow start then moves the median, not the row.
    const parallelRuns: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      parallelRuns.push(
        await timed(
          '  Model Hub, default settings (adaptive, up to 8 connections)',
          throttledBytes,
          (await modelHub(slow.url, defaults)).run,
        ),
      );
    }
    throttled.push({ mbps, single: slowSingle, parallel: median(parallelRuns) });
    slow.stop();
  }

  if (PARTS.has('crossover')) {
    console.log('\nhash worker crossover (per file, sequential):');
    for (const line of await hashCrossover()) console.log(line);
  }

  const mb = (n: number) => `${n.toFixed(0).padStart(5)} MB/s`;
  console.log(`\nsummary (${SIZE_MIB} MiB, medians of ${ROUNDS}; throttled: the single stream once):`);
  console.log(
    '                     curl|tee|openssl   Model Hub default   ratio   (target)   Model Hub single   default/single',
  );
  for (const [label, row, target] of [
    ['idle machine', idle, '>= 1.6x'],
    ['+ CPU-bound process', busy, '>= 1.3x'],
  ] as const) {
    if (!row) continue;
    console.log(
      `  ${label.padEnd(20)} ${mb(row.pipeline).padStart(14)} ${mb(row.hubDefault).padStart(19)} ${ratio(row.hubDefault, row.pipeline).padStart(7)}   ${target}   ${mb(row.hubSingle).padStart(14)}   ${ratio(row.hubDefault, row.hubSingle).padStart(8)}`,
    );
  }
  for (const { mbps, single: s1, parallel } of throttled) {
    console.log(
      `  throttled ${mbps} MB/s/conn: single ${mb(s1)}, default ${mb(parallel)}, default/single = ${ratio(parallel, s1)} (target >= 7x)`,
    );
  }
  if (rehash !== undefined) console.log(`  resume: re-hashing the prefix runs at ${rehash.toFixed(0)} MB/s`);
} finally {
  await fsp.rm(workDir, { recursive: true, force: true });
}
