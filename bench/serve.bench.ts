/**
 * `npm run bench:serve`: how fast the hub serves a stored blob to Hugging Face clients
 * (`GET /{repo}/resolve/main/{file}`, 200 straight from blobs/sha256/<hash>), next to nginx
 * (`sendfile on`) serving the very same file, and a minimal node:http + fs.createReadStream server.
 * One client, then BENCH_CLIENTS (default 16) at once, each `curl -o /dev/null` of the whole file.
 *
 * The file (BENCH_SIZE_MIB, default 1024) gets into the store the normal way: synced and downloaded
 * from the fake hub. nginx comes from the Debian package (`apt-get install -y nginx`); without it,
 * only the node:http baseline is compared. Prints MB/s and ratios; asserts nothing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WAN_REPO } from '../test/fake-hub/demo.js';
import { freePort, waitFor } from '../test/support/child-server.js';
import { startTestApp } from '../test/support/test-app.js';
import { startFakeHubProcess } from './fake-hub-process.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const ROUNDS = 3;
const FILE = 'diffusion_pytorch_model.safetensors';
const run = promisify(execFile);
const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-serve-'));

/** Wall time of `clients` concurrent `curl -o /dev/null` of `url`; checks every byte count. */
async function curlAll(url: string, clients: number, bytes: number): Promise<number> {
  const started = performance.now();
  const sizes = await Promise.all(
    Array.from({ length: clients }, () =>
      run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download}', url]).then((r) =>
        Number(r.stdout),
      ),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  if (sizes.some((s) => s !== bytes)) throw new Error(`short download from ${url}: ${sizes.join(', ')}`);
  return (bytes * clients) / 1e6 / seconds;
}

/** Best of ROUNDS, after one warm-up (page cache, connection setup). */
async function measure(url: string, clients: number, bytes: number): Promise<number> {
  await curlAll(url, 1, bytes);
  let best = 0;
  for (let i = 0; i < ROUNDS; i++) best = Math.max(best, await curlAll(url, clients, bytes));
  return best;
}

async function startNginx(root: string): Promise<{ url: string; process: ChildProcess } | undefined> {
  const which = await run('which', ['nginx']).catch(() => undefined);
  if (!which) return undefined;
  const port = await freePort();
  const prefix = path.join(workDir, 'nginx');
  await fsp.mkdir(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  await fsp.writeFile(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
  );
  const child = spawn(which.stdout.trim(), ['-p', prefix, '-c', conf, '-g', 'daemon off;'], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('nginx', async () => ((await fetch(url).catch(() => undefined)) ? true : undefined), 10_000);
  return { url, process: child };
}

/** The floor any Node server stands on: node:http piping fs.createReadStream, nothing else. */
async function startNodeBaseline(file: string): Promise<{ url: string; server: http.Server }> {
  const { size } = await fsp.stat(file);
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    fs.createReadStream(file, { highWaterMark: MiB }).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const upstream = await startFakeHubProcess(['--big-size-mib', String(SIZE_MIB)]);
const t = await startTestApp(upstream.url, { LOG_LEVEL: 'silent' });
let nginx: Awaited<ReturnType<typeof startNginx>>;
let baseline: Awaited<ReturnType<typeof startNodeBaseline>> | undefined;
try {
  const registered = await t.request('POST', '/v1/hub/register', {
    vendor: 'Wan-AI',
    name: 'Wan',
    source_repo_id: WAN_REPO,
    auto_sync: true,
  });
  await t.waitForJob(registered.body.sync_job_id, 120_000);
  const artifacts = (await t.request('GET', `/v1/hub/models/${registered.body.id}/artifacts`)).body.items;
  const artifact = artifacts.find((a: { path: string }) => a.path === FILE);
  const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifact.id] });
  const job = await t.waitForJob(queued.body.job_id, 900_000);
  if (job.status !== 'completed') throw new Error(`download failed: ${job.error}`);
  const sha256: string = (
    await t.request('GET', `/v1/hub/models/${registered.body.id}/artifacts`)
  ).body.items.find((a: { path: string }) => a.path === FILE).sha256;
  upstream.stop();

  const blobsDir = path.join(t.storePath, 'blobs', 'sha256');
  const bytes = SIZE_MIB * MiB;
  const hubUrl = `${await t.listen()}/${WAN_REPO}/resolve/main/${FILE}`;
  nginx = await startNginx(blobsDir);
  baseline = await startNodeBaseline(path.join(blobsDir, sha256));
  const targets: [string, string][] = [
    ['Model Hub /resolve (Fastify, FileHandle.createReadStream)', hubUrl],
    ['node:http + fs.createReadStream (baseline)', `${baseline.url}/`],
    ...(nginx ? [['nginx, sendfile on', `${nginx.url}/${sha256}`] as [string, string]] : []),
  ];
  if (!nginx) console.log('nginx is not installed (apt-get install -y nginx): comparing with node:http only');

  console.log(
    `serving one ${SIZE_MIB} MiB blob over loopback (${os.cpus().length} cores), best of ${ROUNDS}:`,
  );
  const results = new Map<string, { one: number; many: number }>();
  for (const [label, url] of targets) {
    const one = await measure(url, 1, bytes);
    const many = await measure(url, CLIENTS, bytes);
    results.set(label, { one, many });
    console.log(
      `${label.padEnd(58)} 1 client ${one.toFixed(0).padStart(6)} MB/s   ${CLIENTS} clients ${many.toFixed(0).padStart(6)} MB/s`,
    );
  }
  const hub = results.get(targets[0]?.[0] ?? '');
  for (const [label] of targets.slice(1)) {
    const other = results.get(label);
    if (!hub || !other) continue;
    console.log(
      `Model Hub / ${label.split(',')[0]}: ${(hub.one / other.one).toFixed(2)}× with 1 client, ` +
        `${(hub.many / other.many).toFixed(2)}× with ${CLIENTS}`,
    );
  }
} finally {
  upstream.stop();
  nginx?.process.kill('SIGTERM');
  baseline?.server.close();
  await t.close();
  await fsp.rm(workDir, { recursive: true, force: true });
}
