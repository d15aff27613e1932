import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDemoRepos, WAN_COPY_REPO, WAN_REPO } from '../fake-hub/demo.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { freePort, jsonApi, waitFor } from '../support/child-server.js';
import { sha256File } from '../support/download-helpers.js';

/**
 * The README's walkthrough, end to end: the real server started exactly as the README says
 * (`npm start`), on a temp store, against the fake hub, driven over HTTP.
 */
const root = path.resolve(import.meta.dirname, '../..');
let hub: FakeHub;
let server: ChildProcess;
let base: string;
let storePath: string;
let workDir: string;
let output = '';

const { api, finished } = jsonApi(() => base);
const serverOutput = () => `; server output:\n${output}`;

beforeAll(async () => {
  hub = await startFakeHub();
  await addDemoRepos(hub, { bigSizeBytes: 12 * 1024 * 1024 });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-e2e-'));
  storePath = path.join(workDir, 'store');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn('npm', ['start'], {
    cwd: root,
    detached: true,
    env: {
      ...process.env,
      PORT: String(port),
      MODEL_STORE_PATH: storePath,
      HF_ENDPOINT: hub.url,
      LOG_LEVEL: 'info',
    },
  });
  server.stdout?.on('data', (d) => {
    output += d;
  });
  server.stderr?.on('data', (d) => {
    output += d;
  });
  await waitFor(
    'the server to answer /healthz',
    async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined),
    120_000,
    serverOutput,
  );
}, 150_000);

afterAll(async () => {
  if (server?.pid && server.exitCode === null && server.signalCode === null) {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await hub?.close();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

describe('README walkthrough against `npm start`', () => {
  let wanId: string;

  it('registers, lists, syncs and shows the job', async () => {
    const registered = await api('POST', '/v1/hub/register', {
      vendor: 'Wan-AI',
      name: 'Wan2.1-T2V-1.3B',
      source_repo_id: WAN_REPO,
    });
    expect(registered.status).toBe(201);
    wanId = registered.body.id;
    const models = await api('GET', '/v1/hub/models');
    expect(models.body.items.map((m: any) => m.repo_id)).toEqual([WAN_REPO]);

    const sync = await api('POST', '/v1/hub/sync', { repo_id: WAN_REPO });
    expect(sync).toMatchObject({ status: 202, body: { status: 'pending', message: 'Sync job queued' } });
    const job = await finished(sync.body.job_id);
    expect(job.status).toBe('completed');
    expect(job.logs.join('\n')).toContain(
      'Synced 7 files, created 7 new artifacts, downloaded 4 metadata files',
    );
    const jobs = await api('GET', '/v1/hub/jobs');
    expect(jobs.body.items[0].id).toBe(sync.body.job_id);
    await expect(
      fs.readFile(path.join(storePath, 'metadata', 'models--Wan-AI--Wan2.1-T2V-1.3B', 'config.json'), 'utf8'),
    ).resolves.toContain('WanModel');
  });

  it('downloads two artifacts into blobs named by their verified sha256', async () => {
    const artifacts = (await api('GET', `/v1/hub/models/${wanId}/artifacts`)).body.items;
    const picked = artifacts.filter((a: any) =>
      ['diffusion_pytorch_model.safetensors', 'Wan2.1_VAE.pth'].includes(a.path),
    );
    expect(picked.map((a: any) => a.download_status)).toEqual(['pending', 'pending']);
    const queued = await api('POST', '/v1/hub/download', { artifact_ids: picked.map((a: any) => a.id) });
    expect(queued.status).toBe(202);
    expect((await finished(queued.body.job_id)).status).toBe('completed');
    for (const before of picked) {
      const { body } = await api('GET', `/v1/hub/models/${wanId}/artifacts`);
      const after = body.items.find((a: any) => a.id === before.id);
      const upstream = await hub.fileInfo(WAN_REPO, before.path);
      expect(after).toMatchObject({ download_status: 'completed', sha256: upstream.sha256 });
      expect(after.local_path).toBe(path.join(storePath, 'blobs', 'sha256', upstream.sha256));
      expect(await sha256File(after.local_path)).toBe(upstream.sha256);
    }
  });

  it('stores identical content from a second repo once, without fetching it again', async () => {
    const copy = await api('POST', '/v1/hub/register', {
      vendor: 'demo',
      name: 'copy',
      source_repo_id: WAN_COPY_REPO,
      auto_sync: true,
    });
    await finished(copy.body.sync_job_id);
    const vae = (await api('GET', `/v1/hub/models/${copy.body.id}/artifacts`)).body.items.find(
      (a: any) => a.path === 'vae/Wan2.1_VAE.pth',
    );
    hub.resetRequests();
    const queued = await api('POST', '/v1/hub/download', { artifact_ids: [vae.id] });
    const job = await finished(queued.body.job_id);
    expect(job.result).toMatchObject({ downloaded: 0, deduplicated: 1 });
    expect(hub.requests.filter((r) => r.server === 'cdn')).toEqual([]);
    const blobs = await fs.readdir(path.join(storePath, 'blobs', 'sha256'));
    expect(blobs.filter((b) => b === (vae.upstream_sha256 as string))).toHaveLength(1);
  });

  it('refuses hostile upstream paths and writes nothing outside the store', async () => {
    await hub.addRepo({
      id: 'evil/escape',
      files: [
        { path: '../../escaped.json', content: '{"pwned":true}' },
        { path: '/tmp/model-hub-e2e-absolute.json', content: '{"pwned":true}' },
        { path: 'ok.json', content: '{}' },
      ],
    });
    const reg = await api('POST', '/v1/hub/register', {
      vendor: 'evil',
      name: 'escape',
      source_repo_id: 'evil/escape',
      auto_sync: true,
    });
    expect((await finished(reg.body.sync_job_id)).result).toMatchObject({
      unsafe_paths: 2,
      metadata_downloaded: 1,
    });
    await expect(fs.access(path.join(workDir, 'escaped.json'))).rejects.toThrow();
    await expect(fs.access(path.join(storePath, '..', '..', 'escaped.json'))).rejects.toThrow();
    await expect(fs.access('/tmp/model-hub-e2e-absolute.json')).rejects.toThrow();
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    process.kill(-(server.pid as number), 'SIGTERM');
    await exited;
    await waitFor(
      'the server to log its stop',
      async () => (output.includes('model hub stopped') ? true : undefined),
      15_000,
      serverOutput,
    );
    expect(output).toContain('model hub ready');
    expect(output).not.toContain('"level":50');
  });

  it('applies migrations with `migrate`, once', async () => {
    const env = { ...process.env, MODEL_STORE_PATH: path.join(workDir, 'migrate-store') };
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['dist/src/cli.js', 'migrate'], { cwd: root, env });
        let stdout = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.once('exit', (code) =>
          code === 0 ? resolve(stdout) : reject(new Error(`migrate exited ${code}`)),
        );
      });
    expect(await run()).toContain('Applied migrations: 0001-initial');
    expect(await run()).toContain('Database is up to date');
  });

  it('refuses to start on a bad configuration value, naming the variable', async () => {
    const child = spawn(process.execPath, ['dist/src/cli.js', 'serve'], {
      cwd: root,
      env: { ...process.env, PORT: 'eighty' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT');
  });
});
