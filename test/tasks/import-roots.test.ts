import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { runCli } from '../support/child-server.js';
import { artifactsOf, MiB } from '../support/download-helpers.js';
import { writeHfCacheRepo } from '../support/hf-cache.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Import reads only below IMPORT_ROOTS: a caller of the API can neither make the hub list or read
 * other local files nor learn from the answers which paths exist. The worker checks again when the
 * job runs, and the walk does not follow symlinks out of the imported directory.
 */
let hub: FakeHub;
let t: TestApp;
let base: string;
let root: string;
let outside: string;

const jobCount = async (app: TestApp) =>
  Number(
    (
      await app.app.db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

beforeAll(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-roots-')));
  root = path.join(base, 'imports');
  outside = path.join(base, 'outside');
  for (const dir of [root, outside, path.join(base, 'imports-evil')]) await fs.mkdir(dir);
  await fs.writeFile(path.join(outside, 'secret-name.txt'), 'not for the hub');
  await fs.symlink(outside, path.join(root, 'escape'));
  // The root is configured through a symlink: what counts is where it resolves.
  await fs.symlink(root, path.join(base, 'root-link'));
  hub = await startFakeHub();
  // One job at a time, so a job queued behind a busy one is still pending when the test changes the tree.
  t = await startTestApp(hub.url, {
    HF_TOKEN: hub.token,
    IMPORT_ROOTS: path.join(base, 'root-link'),
    WORKER_CONCURRENCY: '1',
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await hub?.close();
  if (base) await fs.rm(base, { recursive: true, force: true });
});

describe('POST /v1/hub/import with IMPORT_ROOTS', () => {
  it('answers outside, escaping and missing paths with one identical 403 and creates no job', async () => {
    const before = await jobCount(t);
    const paths = [
      '/etc',
      '/etc/passwd',
      '/nonexistent',
      path.join(base, 'imports-evil'),
      path.join(root, 'escape'),
      path.join(root, '..', 'outside'),
      path.join(root, 'missing'),
    ];
    const bodies = new Set<string>();
    for (const p of paths) {
      const response = await t.request('POST', '/v1/hub/import', { path: p, repo_id: 'roots/none' });
      expect({ p, status: response.status }).toEqual({ p, status: 403 });
      expect(response.body.error.request_id).toEqual(expect.any(String));
      const { request_id: _, ...error } = response.body.error;
      bodies.add(JSON.stringify(error));
    }
    expect([...bodies].map((b) => JSON.parse(b))).toEqual([
      {
        code: 'IMPORT_PATH_REFUSED',
        message: `Import path refused: only an existing directory inside the import roots can be imported (IMPORT_ROOTS: ${path.join(base, 'root-link')})`,
      },
    ]);
    expect(await jobCount(t)).toBe(before);
  });

  it('is refused the same way through the CLI', async () => {
    const run = await runCli(['import', '/etc'], { MODEL_HUB_URL: await t.listen() });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error: Import path refused: .+ \(IMPORT_PATH_REFUSED\)\n$/);
  }, 60_000);

  it('imports from a directory inside the root as before, named through the root or its symlink', async () => {
    const repo = 'roots/ok';
    await hub.addRepo({
      id: repo,
      files: [{ path: 'w.safetensors', content: { size: MiB, seed: 'roots' } }],
    });
    await registerAndSync(t, repo);
    const folder = path.join(root, 'ok');
    await fs.mkdir(folder);
    await fs.writeFile(path.join(folder, 'w.safetensors'), await hub.expectedBytes(repo, 'w.safetensors'));
    const queued = await t.request('POST', '/v1/hub/import', {
      path: path.join(base, 'root-link', 'ok'),
      repo_id: repo,
    });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    const job = await t.waitForJob(queued.body.job_id);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.result).toMatchObject({ files_seen: 1, imported: 1, rejected: 0 });
    expect((await artifactsOf(t, repo)).get('w.safetensors')).toMatchObject({ download_status: 'completed' });
  });
});

describe('the import job', () => {
  it('checks the path again when it runs: a directory swapped for a symlink out of the root fails the job', async () => {
    const repo = 'roots/slow';
    await hub.addRepo({ id: repo, files: [{ path: 'slow.json', content: '{}' }] });
    await t.request('POST', '/v1/hub/register', { vendor: 'Roots', name: 'Slow', source_repo_id: repo });
    // A 503 with Retry-After: 2 keeps the only job slot busy with this sync for two seconds.
    hub.addFault({ filePath: 'slow.json', status: 503, retryAfterSeconds: 2 });
    const sync = await t.request('POST', '/v1/hub/sync', { repo_id: repo });
    const victim = path.join(root, 'victim');
    await fs.mkdir(victim);
    const queued = await t.request('POST', '/v1/hub/import', { path: victim, repo_id: repo });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    await fs.rename(victim, `${victim}-was`);
    await fs.symlink(outside, victim);
    expect((await t.request('GET', `/v1/hub/jobs/${queued.body.job_id}`)).body.status).toBe('pending');

    const job = await t.waitForJob(queued.body.job_id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/^Import path refused: only an existing directory inside the import roots/);
    expect(job.result).toBeNull();
    expect(JSON.stringify(job)).not.toContain('secret-name');
    expect((await t.waitForJob(sync.body.job_id)).status).toBe('completed');
  });

  it('does not follow a cache blobs/ or snapshots/ that leaves the imported directory', async () => {
    const repo = 'roots/cache';
    const { commit } = await hub.addRepo({
      id: repo,
      files: [{ path: 'w.safetensors', content: { size: MiB, seed: 'roots-cache' } }],
    });
    await registerAndSync(t, repo);
    const info = await hub.fileInfo(repo, 'w.safetensors');
    const cacheRoot = path.join(root, 'hf');
    const repoDir = await writeHfCacheRepo(cacheRoot, repo, commit, [
      { path: 'w.safetensors', bytes: await hub.expectedBytes(repo, 'w.safetensors'), etag: info.sha256 },
    ]);
    // blobs/ moved out of the root and linked back: its snapshot links now lead outside.
    await fs.rename(path.join(repoDir, 'blobs'), path.join(outside, 'blobs'));
    await fs.symlink(path.join(outside, 'blobs'), path.join(repoDir, 'blobs'));
    // A second repo folder whose snapshots/ is a link out: not entered, nothing under it listed.
    await fs.mkdir(path.join(outside, 'snapshots', 'c'.repeat(40)), { recursive: true });
    await fs.writeFile(path.join(outside, 'snapshots', 'c'.repeat(40), 'secret-name.bin'), 'x');
    await fs.mkdir(path.join(cacheRoot, 'models--roots--other'));
    await fs.symlink(
      path.join(outside, 'snapshots'),
      path.join(cacheRoot, 'models--roots--other', 'snapshots'),
    );

    const queued = await t.request('POST', '/v1/hub/import', { path: cacheRoot });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    const job = await t.waitForJob(queued.body.job_id);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.result).toMatchObject({ files_seen: 1, imported: 0, rejected: 1, skipped: 0 });
    expect(job.result.problems).toEqual([
      {
        path: `${repo}@${commit.slice(0, 12)}:w.safetensors`,
        outcome: 'rejected',
        reason: expect.stringMatching(/^symlink points outside the cache's blobs\//),
      },
    ]);
    expect(JSON.stringify(job)).not.toContain('secret-name');
    expect((await artifactsOf(t, repo)).get('w.safetensors')).toMatchObject({ download_status: 'pending' });
  });
});

describe('without IMPORT_ROOTS', () => {
  it('answers 403 IMPORT_DISABLED saying how to enable it, and the CLI prints it', async () => {
    const closed = await startTestApp(hub.url);
    try {
      const response = await closed.request('POST', '/v1/hub/import', { path: root });
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({
        code: 'IMPORT_DISABLED',
        message: expect.stringContaining('set IMPORT_ROOTS to the directories it may import from'),
      });
      expect(await jobCount(closed)).toBe(0);

      const run = await runCli(['import', root], { MODEL_HUB_URL: await closed.listen() });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(`error: ${response.body.error.message} (IMPORT_DISABLED)\n`);
    } finally {
      await closed.close();
    }
  }, 60_000);
});
