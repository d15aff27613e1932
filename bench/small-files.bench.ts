/**
 * `npm run bench:small-files`: a repo of many small plain-git files (default 10,000 of 200–1,200
 * bytes; BENCH_SMALL_FILES), fetched end to end by Model Hub (register + sync, which fetches such
 * files, verifies each against its git blob id and makes it durable) and by the official Python
 * client (`huggingface_hub` snapshot_download, 8 workers, no fsync, no hash check of plain files)
 * from the same fake hub process, one after the other in one run. Prints files/s and the ratio;
 * asserts nothing about speed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SMALL_FILES_REPO } from '../test/fake-hub/demo.js';
import { ensurePythonClient, PYTHON_CLIENT_VERSION, runPython } from '../test/support/python-client.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';

const FILES = Number(process.env.BENCH_SMALL_FILES ?? 10_000);
const PYTHON_WORKERS = 8;

const upstream = await startFakeHubProcess(['--small-files', String(FILES)]);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-small-files-'));
try {
  await ensurePythonClient();
  const python = await runPython(
    `
import sys, time
from huggingface_hub import snapshot_download
started = time.perf_counter()
snapshot_download(sys.argv[1], max_workers=int(sys.argv[2]))
print(time.perf_counter() - started)
`,
    {
      endpoint: upstream.url,
      cacheDir: path.join(work, 'hf-cache'),
      args: [SMALL_FILES_REPO, String(PYTHON_WORKERS)],
      timeoutMs: 900_000,
    },
  );
  if (python.code !== 0) throw new Error(`snapshot_download failed:\n${python.stderr}`);
  const pythonSeconds = Number(python.stdout.trim().split('\n').at(-1));

  const t = await startTestApp(upstream.url, { LOG_LEVEL: 'silent' });
  let hubSeconds: number;
  try {
    const started = performance.now();
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Bench',
      name: 'SmallFiles',
      source_repo_id: SMALL_FILES_REPO,
      auto_sync: true,
    });
    const job = await t.waitForJob(registered.body.sync_job_id, 900_000);
    hubSeconds = (performance.now() - started) / 1000;
    if (job.status !== 'completed') throw new Error(`sync failed: ${job.error}`);
    const artifacts = await t.request('GET', `/v1/hub/models/${registered.body.id}/artifacts`);
    const stored = artifacts.body.items.filter(
      (a: { download_status: string }) => a.download_status === 'completed',
    );
    if (stored.length !== FILES) throw new Error(`expected ${FILES} files stored, found ${stored.length}`);
  } finally {
    await t.close();
  }

  const rate = (seconds: number) => `${(FILES / seconds).toFixed(0)} files/s`;
  console.log(`${FILES} plain-git files of 200-1,200 B from the fake hub (its own process), one run:`);
  console.log(
    `  huggingface_hub ${PYTHON_CLIENT_VERSION} snapshot_download, ${PYTHON_WORKERS} workers: ${pythonSeconds.toFixed(1)} s = ${rate(pythonSeconds)}`,
  );
  console.log(
    `  Model Hub register + sync (each file verified and durable): ${hubSeconds.toFixed(1)} s = ${rate(hubSeconds)}`,
  );
  console.log(`  ratio (Model Hub / official client): ${(pythonSeconds / hubSeconds).toFixed(2)}x`);
} finally {
  upstream.stop();
  await fs.rm(work, { recursive: true, force: true });
}
