/**
 * `npm run bench:small-files`: a repo of many small plain-git files (default 10,000 of 200–1,200
 * bytes; BENCH_SMALL_FILES), fetched end to end from the same fake hub process, one after the other
 * in one run, by:
 *
 * - `curl --parallel --parallel-max 8` over the list of the files' `/resolve/` URLs: the floor of
 *   what 8 workers over keep-alive connections can fetch here (no hash check, no fsync, no listing);
 * - the official Python client (`huggingface_hub` snapshot_download, 8 workers, no fsync, no hash
 *   check of plain files), when python3 and its wheel are there;
 * - Model Hub: register + sync, which lists the repo, records one artifact per file and fetches
 *   such files, verifying each against its git blob id and making it durable before its row says so.
 *
 * Prints files/s of each and the ratios; asserts nothing about speed.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SMALL_FILES_REPO } from '../test/fake-hub/demo.js';
import {
  ensurePythonClient,
  PYTHON_CLIENT_VERSION,
  pythonClientUnavailable,
  runPython,
} from '../test/support/python-client.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';
import { timeJob } from './job-timing.js';

const FILES = Number(process.env.BENCH_SMALL_FILES ?? 10_000);
const WORKERS = 8;
const run = promisify(execFile);

const upstream = await startFakeHubProcess(['--small-files', String(FILES)]);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-small-files-'));
try {
  const urls = await fileUrls(upstream.url, SMALL_FILES_REPO);
  if (urls.length !== FILES) throw new Error(`expected ${FILES} files listed, found ${urls.length}`);
  const curlSeconds = await curlBaseline(urls, path.join(work, 'curl'));
  const pythonSeconds = await pythonClient(upstream.url, path.join(work, 'hf-cache'));
  const hubSeconds = await modelHub(upstream.url);

  const rate = (seconds: number) => `${(FILES / seconds).toFixed(0)} files/s`;
  console.log(`${FILES} plain-git files of 200-1,200 B from the fake hub (its own process), one run:`);
  console.log(
    `  curl --parallel --parallel-max ${WORKERS} over the ${FILES} URLs (no listing, no check, no fsync): ${curlSeconds.toFixed(1)} s = ${rate(curlSeconds)}`,
  );
  if (typeof pythonSeconds === 'number') {
    console.log(
      `  huggingface_hub ${PYTHON_CLIENT_VERSION} snapshot_download, ${WORKERS} workers: ${pythonSeconds.toFixed(1)} s = ${rate(pythonSeconds)}`,
    );
  } else {
    console.log(`  huggingface_hub: not run (${pythonSeconds.skipped})`);
  }
  console.log(
    `  Model Hub register + sync (each file verified and durable): ${hubSeconds.toFixed(1)} s = ${rate(hubSeconds)}`,
  );
  console.log(`  ratio (Model Hub / curl): ${(curlSeconds / hubSeconds).toFixed(2)}x`);
  if (typeof pythonSeconds === 'number') {
    console.log(`  ratio (Model Hub / official client): ${(pythonSeconds / hubSeconds).toFixed(2)}x`);
  }
} finally {
  upstream.stop();
  await fs.rm(work, { recursive: true, force: true });
}

/** Every file's `/resolve/<commit>/<path>` URL, from the paginated tree listing. */
async function fileUrls(hubUrl: string, repo: string): Promise<string[]> {
  const info = (await (await fetch(`${hubUrl}/api/models/${repo}/revision/main`)).json()) as { sha: string };
  const urls: string[] = [];
  let next: string | undefined = `${hubUrl}/api/models/${repo}/tree/${info.sha}?recursive=true`;
  while (next) {
    const response: Response = await fetch(next);
    const entries = (await response.json()) as { type: string; path: string }[];
    for (const entry of entries) {
      if (entry.type === 'file') {
        const encoded = entry.path.split('/').map(encodeURIComponent).join('/');
        urls.push(`${hubUrl}/${repo}/resolve/${info.sha}/${encoded}`);
      }
    }
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    if (next) next = new URL(next, hubUrl).href;
  }
  return urls;
}

/** Seconds for curl to fetch every URL into `dir`, 8 transfers at once over reused connections. */
async function curlBaseline(urls: string[], dir: string): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const config = path.join(dir, '..', 'curl.config');
  await fs.writeFile(
    config,
    urls.map((url, i) => `url = "${url}"\noutput = "${path.join(dir, `${i}.json`)}"\n`).join(''),
  );
  const started = performance.now();
  await run(
    'curl',
    ['--silent', '--fail', '--parallel', '--parallel-max', String(WORKERS), '--config', config],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const fetched = (await fs.readdir(dir)).length;
  if (fetched !== urls.length) throw new Error(`curl fetched ${fetched} of ${urls.length} files`);
  return seconds;
}

async function pythonClient(hubUrl: string, cacheDir: string): Promise<number | { skipped: string }> {
  const unavailable = pythonClientUnavailable();
  if (unavailable) return { skipped: unavailable };
  await ensurePythonClient();
  const python = await runPython(
    `
import sys, time
from huggingface_hub import snapshot_download
started = time.perf_counter()
snapshot_download(sys.argv[1], max_workers=int(sys.argv[2]))
print(time.perf_counter() - started)
`,
    { endpoint: hubUrl, cacheDir, args: [SMALL_FILES_REPO, String(WORKERS)], timeoutMs: 900_000 },
  );
  if (python.code !== 0) throw new Error(`snapshot_download failed:\n${python.stderr}`);
  return Number(python.stdout.trim().split('\n').at(-1));
}

/** Seconds from register to the end of the sync, with every file stored. */
async function modelHub(hubUrl: string): Promise<number> {
  const t = await startTestApp(hubUrl, { LOG_LEVEL: 'silent' });
  try {
    const started = Date.now();
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Bench',
      name: 'SmallFiles',
      source_repo_id: SMALL_FILES_REPO,
      auto_sync: true,
    });
    const { job, seconds } = await timeJob(t, registered.body.sync_job_id, started, 900_000);
    if (job.status !== 'completed') throw new Error(`sync failed: ${job.error}`);
    const artifacts = await t.request('GET', `/v1/hub/models/${registered.body.id}/artifacts`);
    const stored = artifacts.body.items.filter(
      (a: { download_status: string }) => a.download_status === 'completed',
    );
    if (stored.length !== FILES) throw new Error(`expected ${FILES} files stored, found ${stored.length}`);
    return seconds;
  } finally {
    await t.close();
  }
}
