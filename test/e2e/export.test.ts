import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeasesRepository } from '../../src/db/leases.repo.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type CliRun, runCli } from '../support/child-server.js';
import { MiB } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * `model-hub export` end to end: a hub (in this process) downloads a repo, then the command runs as a
 * child process on the same store and database, as an operator runs it on the hub's machine.
 */
const REPO = 'exp/demo';
const PATHS = [
  'config.json',
  'copy/model.safetensors',
  'model.safetensors',
  'notes.txt',
  'sub/dir/weights.bin',
  'tokenizer.json',
];
const shared = { size: 2 * MiB + 1, seed: 'export-shared' };
let hub: FakeHub;
let t: TestApp;
let workDir: string;
let commit: string;

function exportCli(args: string[]): Promise<CliRun> {
  return runCli(['export', ...args], { ...t.backendEnv, MODEL_STORE_PATH: t.storePath, LOG_LEVEL: 'silent' });
}

/** Every entry below `dir` as `path` (files), `path -> target` (symlinks); sorted. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await tree(abs, rel)));
    else if (entry.isSymbolicLink()) out.push(`${rel} -> ${await fs.readlink(abs)}`);
    else out.push(rel);
  }
  return out.sort();
}

async function etagOf(p: string): Promise<string> {
  const info = await hub.fileInfo(REPO, p);
  return info.lfs ? info.sha256 : info.gitSha1;
}

async function storeBlob(p: string): Promise<string> {
  return path.join(t.storePath, 'blobs', 'sha256', (await hub.fileInfo(REPO, p)).sha256);
}

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { HF_TOKEN: hub.token, METADATA_MAX_BYTES: '100000' });
  ({ commit } = await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"model_type": "exp"}\n' },
      { path: 'tokenizer.json', content: '{"version": "1.0"}\n' },
      { path: 'model.safetensors', content: shared },
      { path: 'copy/model.safetensors', content: shared },
      { path: 'sub/dir/weights.bin', content: { size: MiB, seed: 'export-nested' } },
      { path: 'notes.txt', content: { size: 150_000, seed: 'export-notes' }, lfs: false },
    ],
  }));
  await registerAndSync(t, REPO);
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-export-'));
}, 60_000);

afterAll(async () => {
  await t?.close();
  await hub?.close();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

describe('model-hub export', () => {
  it('refuses a repo with files not downloaded yet, unless --allow-partial', async () => {
    const dir = path.join(workDir, 'partial');
    const refused = await exportCli([REPO, dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/4 file\(s\) of exp\/demo are not downloaded .*--allow-partial/);
    await expect(fs.access(dir)).rejects.toThrow();

    const partial = await exportCli([REPO, dir, '--allow-partial']);
    expect(partial.stderr).toBe('');
    expect(partial.code).toBe(0);
    expect(partial.stdout).toMatch(/: 2 files, .*\nLeft out 4 file\(s\) that are not downloaded/);
    expect(await tree(path.join(dir, 'models--exp--demo', 'snapshots'))).toEqual([
      `${commit}/config.json -> ../../blobs/${await etagOf('config.json')}`,
      `${commit}/tokenizer.json -> ../../blobs/${await etagOf('tokenizer.json')}`,
    ]);
  }, 60_000);

  it('writes the exact Hugging Face cache layout, blobs hard-linked from the store', async () => {
    const queued = await t.request('POST', '/v1/hub/download', { repo_id: REPO });
    expect((await t.waitForJob(queued.body.job_id, 30_000)).status).toBe('completed');

    const dir = path.join(workDir, 'hf');
    const run = await exportCli([REPO, dir, '--layout', 'hf-cache']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout.trimEnd().split('\n');
    expect(out[0]).toBe(
      `Exported ${REPO} at ${commit} to ${path.join(dir, 'models--exp--demo')} (hf-cache): 6 files, 5.1 MiB; blobs: 5 hard-linked, 0 copied, 0 already there`,
    );
    expect(out.at(-1)).toBe(`Use it with: HF_HUB_OFFLINE=1 HF_HUB_CACHE=${dir}`);

    const repoDir = path.join(dir, 'models--exp--demo');
    const expectedTarget = async (p: string) =>
      `${'../'.repeat(1 + p.split('/').length)}blobs/${await etagOf(p)}`;
    const etags = [...new Set(await Promise.all(PATHS.map(etagOf)))].sort();
    expect(await tree(repoDir)).toEqual(
      [
        ...etags.map((e) => `blobs/${e}`),
        'refs/main',
        ...(await Promise.all(
          PATHS.map(async (p) => `snapshots/${commit}/${p} -> ${await expectedTarget(p)}`),
        )),
      ].sort(),
    );
    expect(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    for (const p of PATHS) {
      const entry = path.join(repoDir, 'snapshots', commit, p);
      expect((await fs.readFile(entry)).equals(await hub.expectedBytes(REPO, p))).toBe(true);
      expect((await fs.stat(entry)).ino).toBe((await fs.stat(await storeBlob(p))).ino);
    }

    const again = await exportCli([REPO, dir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/blobs: 0 hard-linked, 0 copied, 5 already there/);
    expect(await tree(repoDir)).toHaveLength(etags.length + 1 + PATHS.length);
  }, 60_000);

  it('writes a flat folder of hard links to the store blobs', async () => {
    const dir = path.join(workDir, 'flat');
    const run = await exportCli([REPO, dir, '--layout', 'flat']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /\(flat\): 6 files, 5\.1 MiB; files: 6 hard-linked, 0 copied, 0 already there\n/,
    );
    expect(await tree(dir)).toEqual(PATHS);
    for (const p of PATHS) {
      const file = path.join(dir, p);
      expect((await fs.lstat(file)).isFile()).toBe(true);
      expect((await fs.stat(file)).ino).toBe((await fs.stat(await storeBlob(p))).ino);
      expect((await fs.readFile(file)).equals(await hub.expectedBytes(REPO, p))).toBe(true);
    }
  }, 60_000);

  it('waits for a blob another process holds (GC, quota, a transfer) before reading it', async () => {
    const sha256 = (await hub.fileInfo(REPO, PATHS[0] as string)).sha256;
    const leases = new LeasesRepository(t.app.db);
    const key = `content:${sha256}`;
    const far = new Date(Date.now() + 60_000).toISOString();
    expect(await leases.acquire(key, 'gc:test-holder', new Date().toISOString(), far)).toBe(true);
    const started = Date.now();
    const run = exportCli([REPO, path.join(workDir, 'held'), '--layout', 'flat']);
    // Held for a while after the export started: it must wait, then succeed.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await leases.release(key, 'gc:test-holder');
    const done = await run;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(
      (await fs.readFile(path.join(workDir, 'held', PATHS[0] as string))).equals(
        await hub.expectedBytes(REPO, PATHS[0] as string),
      ),
    ).toBe(true);
    // The export released what it held: the lease is free for the next holder.
    expect(await leases.acquire(key, 'gc:after', new Date().toISOString(), far)).toBe(true);
    await leases.release(key, 'gc:after');
  }, 60_000);

  it('says what it needs when it finds no hub, and creates nothing', async () => {
    const nowhere = path.join(workDir, 'no-store');
    const env = { ...t.backendEnv, MODEL_STORE_PATH: nowhere, LOG_LEVEL: 'silent' };
    const run = await runCli(['export', REPO, path.join(workDir, 'out-a')], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: No Model Hub store at .*no-store: .*same MODEL_STORE_PATH/);
    await expect(fs.access(nowhere)).rejects.toThrow();

    // A store folder without the embedded database in it: no database is created there.
    const empty = path.join(workDir, 'empty-store');
    await fs.mkdir(empty);
    const again = await runCli(['export', REPO, path.join(workDir, 'out-b')], {
      ...env,
      MODEL_STORE_PATH: empty,
      DATABASE_URL: '',
    });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^error: No Model Hub database at .*empty-store.*same MODEL_STORE_PATH/);
    expect(await fs.readdir(empty)).toEqual([]);
    await expect(fs.access(path.join(workDir, 'out-b'))).rejects.toThrow();
  }, 60_000);

  it('refuses a revision the hub does not hold', async () => {
    const run = await exportCli([REPO, path.join(workDir, 'other'), '--revision', 'v2']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/the hub mirrors exp\/demo at revision main, not v2/);
  }, 60_000);
});
