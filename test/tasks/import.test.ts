import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { runCli } from '../support/child-server.js';
import { artifactsOf, MiB, sha256File } from '../support/download-helpers.js';
import { type CacheEntry, writeHfCacheRepo } from '../support/hf-cache.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Import of files already on the hub's machine: a Hugging Face cache written by the test in the real
 * layout, and a plain folder. Every accepted file must be verified; nothing unverified enters blobs/.
 */
const CACHED = 'imp/cached';
const PLAIN = 'imp/plain';
const shared = { size: 2 * MiB + 5, seed: 'import-shared' };
let hub: FakeHub;
let t: TestApp;
let workDir: string;
/** A second import root on another file system (tmpfs), for the copy case. */
let shmRoot: string;
let commit: string;

async function cacheEntry(repoId: string, repoPath: string): Promise<CacheEntry> {
  const info = await hub.fileInfo(repoId, repoPath);
  return {
    path: repoPath,
    bytes: await hub.expectedBytes(repoId, repoPath),
    etag: info.lfs ? info.sha256 : info.gitSha1,
  };
}

async function importAndWait(body: { path: string; repo_id?: string }) {
  const queued = await t.request('POST', '/v1/hub/import', body);
  expect(queued.status, JSON.stringify(queued.body)).toBe(202);
  expect(queued.body.message).toMatch(/^Import job queued/);
  const job = await t.waitForJob(queued.body.job_id, 30_000);
  expect(job.status, JSON.stringify(job)).toBe('completed');
  return job;
}

beforeAll(async () => {
  hub = await startFakeHub();
  // Same file system as the store (os.tmpdir()), so imports can hard-link.
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-import-'));
  shmRoot = await fs.mkdtemp(path.join('/dev/shm', 'model-hub-import-'));
  // Text files above 100 kB are not fetched by the sync: notes.txt is left for the import.
  t = await startTestApp(hub.url, {
    HF_TOKEN: hub.token,
    METADATA_MAX_BYTES: '100000',
    IMPORT_ROOTS: `${workDir}:${shmRoot}`,
  });
  ({ commit } = await hub.addRepo({
    id: CACHED,
    files: [
      { path: 'config.json', content: '{"model_type": "imp"}\n' },
      { path: 'model.safetensors', content: shared },
      { path: 'sub/dir/weights.bin', content: { size: MiB, seed: 'import-nested' } },
      { path: 'notes.txt', content: { size: 300_000, seed: 'import-notes' }, lfs: false },
      { path: 'tampered.bin', content: { size: MiB, seed: 'import-tampered' } },
    ],
  }));
  await hub.addRepo({
    id: PLAIN,
    files: [
      { path: 'weights/copy.safetensors', content: shared },
      { path: 'extra.bin', content: { size: MiB + 3, seed: 'plain-extra' } },
      { path: 'big-notes.txt', content: { size: 200_000, seed: 'plain-notes' }, lfs: false },
    ],
  });
  await registerAndSync(t, CACHED);
  await registerAndSync(t, PLAIN);
}, 60_000);

afterAll(async () => {
  await t?.close();
  await hub?.close();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  if (shmRoot) await fs.rm(shmRoot, { recursive: true, force: true });
});

describe('import of a Hugging Face cache', () => {
  let cacheRoot: string;
  let tamperedBlob: string;

  beforeAll(async () => {
    cacheRoot = path.join(workDir, 'hub');
    const entries = await Promise.all(
      ['config.json', 'model.safetensors', 'sub/dir/weights.bin', 'notes.txt', 'tampered.bin'].map((p) =>
        cacheEntry(CACHED, p),
      ),
    );
    const tampered = entries.find((e) => e.path === 'tampered.bin') as CacheEntry;
    // One flipped byte, same size, still named by the right etag: only hashing can tell.
    tampered.bytes = Buffer.from(tampered.bytes);
    tampered.bytes[1000] = (tampered.bytes[1000] ?? 0) ^ 0xff;
    const unknown = { path: 'not-upstream.txt', bytes: Buffer.from('local only\n'), etag: 'f'.repeat(40) };
    const repoDir = await writeHfCacheRepo(cacheRoot, CACHED, commit, [...entries, unknown]);
    tamperedBlob = path.join(repoDir, 'blobs', tampered.etag);
    // A snapshot entry leaving the cache is refused without being read.
    const outside = path.join(workDir, 'outside.bin');
    await fs.writeFile(outside, 'not in the cache');
    await fs.symlink(outside, path.join(repoDir, 'snapshots', commit, 'escape.bin'));
    await writeHfCacheRepo(cacheRoot, 'imp/unregistered', 'a'.repeat(40), [
      { path: 'config.json', bytes: Buffer.from('{}'), etag: 'b'.repeat(40) },
    ]);
  });

  it('imports the verified files by hard link, rejects the tampered one and skips the unknown', async () => {
    const job = await importAndWait({ path: cacheRoot });
    const blobs = path.join(t.storePath, 'blobs', 'sha256');
    const shared256 = (await hub.fileInfo(CACHED, 'model.safetensors')).sha256;
    expect(job.result).toMatchObject({
      files_seen: 8,
      // model.safetensors, sub/dir/weights.bin, notes.txt; config.json came with the sync.
      imported: 3,
      already_present: 1,
      rejected: 2,
      skipped: 2,
      linked: 3,
      copied: 0,
      bytes_imported: 2 * MiB + 5 + MiB + 300_000,
    });
    const problems = job.result.problems.map((p: any) => `${p.outcome} ${p.path}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        `rejected ${CACHED}@${commit.slice(0, 12)}:tampered.bin`,
        `rejected ${CACHED}@${commit.slice(0, 12)}:escape.bin`,
        `skipped ${CACHED}@${commit.slice(0, 12)}:not-upstream.txt`,
        `skipped imp/unregistered@aaaaaaaaaaaa:config.json`,
      ]),
    );
    expect(job.logs.join('\n')).toMatch(
      /Rejected .*tampered\.bin: IntegrityError: tampered\.bin: expected sha256/,
    );

    const artifacts = await artifactsOf(t, CACHED);
    for (const p of ['model.safetensors', 'sub/dir/weights.bin', 'notes.txt']) {
      const artifact = artifacts.get(p);
      const info = await hub.fileInfo(CACHED, p);
      expect(artifact).toMatchObject({ download_status: 'completed', sha256: info.sha256 });
      expect(await sha256File(path.join(blobs, info.sha256))).toBe(info.sha256);
    }
    // Same file system: the blob is the cache's file itself, not a copy.
    const cacheBlob = await fs.stat(path.join(cacheRoot, `models--imp--cached`, 'blobs', shared256));
    const storeBlob = await fs.stat(path.join(blobs, shared256));
    expect(storeBlob.ino).toBe(cacheBlob.ino);

    const tamperedInfo = await hub.fileInfo(CACHED, 'tampered.bin');
    expect(artifacts.get('tampered.bin')).toMatchObject({ download_status: 'pending', sha256: null });
    await expect(fs.access(path.join(blobs, tamperedInfo.sha256))).rejects.toThrow();
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
    // The source is never moved or changed.
    expect((await fs.readFile(tamperedBlob)).equals(await hub.expectedBytes(CACHED, 'tampered.bin'))).toBe(
      false,
    );
    expect(
      await fs.readlink(
        path.join(cacheRoot, 'models--imp--cached', 'snapshots', commit, 'sub/dir/weights.bin'),
      ),
    ).toBe(`../../../../blobs/${(await hub.fileInfo(CACHED, 'sub/dir/weights.bin')).sha256}`);
  });

  it('finds everything already present when imported again', async () => {
    const job = await importAndWait({ path: path.join(cacheRoot, 'models--imp--cached') });
    expect(job.result).toMatchObject({
      files_seen: 7,
      imported: 0,
      already_present: 4,
      rejected: 2,
      skipped: 1,
      linked: 0,
      copied: 0,
      bytes_imported: 0,
    });
  });
});

describe('import of a plain folder', () => {
  it('matches files by path for the given repo; a blob the store has is reused, not linked again', async () => {
    const folder = path.join(workDir, 'plain');
    for (const p of ['weights/copy.safetensors', 'extra.bin', 'big-notes.txt']) {
      await fs.mkdir(path.dirname(path.join(folder, p)), { recursive: true });
      await fs.writeFile(path.join(folder, p), await hub.expectedBytes(PLAIN, p));
    }
    const job = await importAndWait({ path: folder, repo_id: PLAIN });
    expect(job.result).toMatchObject({
      files_seen: 3,
      imported: 3,
      already_present: 0,
      rejected: 0,
      skipped: 0,
      // weights/copy.safetensors has the bytes of imp/cached's model.safetensors, stored already.
      linked: 2,
      copied: 0,
      bytes_imported: MiB + 3 + 200_000,
    });
    const artifacts = await artifactsOf(t, PLAIN);
    for (const p of ['weights/copy.safetensors', 'extra.bin', 'big-notes.txt']) {
      expect(artifacts.get(p)).toMatchObject({
        download_status: 'completed',
        sha256: (await hub.fileInfo(PLAIN, p)).sha256,
      });
    }
    const events = await t.app.db
      .selectFrom('events')
      .select('data')
      .where('jobId', '=', job.id)
      .where('type', '=', 'artifact.completed')
      .execute();
    const sources = events.map((e) => JSON.parse(e.data)).map((d) => `${d.path} ${d.source}`);
    expect(sources.sort()).toEqual([
      'big-notes.txt imported',
      'extra.bin imported',
      'weights/copy.safetensors deduplicated',
    ]);
  });

  it('copies (verified) when the files sit on another file system', async () => {
    const shm = await fs.mkdtemp(path.join(shmRoot, 'copy-'));
    try {
      const repo = 'imp/shm';
      await hub.addRepo({
        id: repo,
        files: [{ path: 'w.safetensors', content: { size: MiB, seed: 'shm' } }],
      });
      await registerAndSync(t, repo);
      await fs.writeFile(path.join(shm, 'w.safetensors'), await hub.expectedBytes(repo, 'w.safetensors'));
      const job = await importAndWait({ path: shm, repo_id: repo });
      expect(job.result).toMatchObject({ imported: 1, linked: 0, copied: 1, bytes_imported: MiB });
      const sha = (await hub.fileInfo(repo, 'w.safetensors')).sha256;
      const blob = path.join(t.storePath, 'blobs', 'sha256', sha);
      expect(await sha256File(blob)).toBe(sha);
      expect((await fs.stat(blob)).ino).not.toBe((await fs.stat(path.join(shm, 'w.safetensors'))).ino);
    } finally {
      await fs.rm(shm, { recursive: true, force: true });
    }
  });
});

describe('model-hub import', () => {
  it('queues the import through the API and follows it with --wait', async () => {
    const repo = 'imp/cli';
    await hub.addRepo({ id: repo, files: [{ path: 'w.safetensors', content: { size: MiB, seed: 'cli' } }] });
    await registerAndSync(t, repo);
    const folder = path.join(workDir, 'cli-folder');
    await fs.mkdir(folder);
    await fs.writeFile(path.join(folder, 'w.safetensors'), await hub.expectedBytes(repo, 'w.safetensors'));
    const base = await t.listen();
    const run = await runCli(['import', folder, '--repo', repo, '--wait'], { MODEL_HUB_URL: base });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Import job queued for a folder of imp\/cli: [0-9a-f-]{36}$/);
    expect(lines.at(-1)).toMatch(
      /^Import job completed in [\d.]+ s: files_seen=1, imported=1, already_present=0, rejected=0, skipped=0, bytes_imported=1048576, linked=1, copied=0$/,
    );
    expect((await artifactsOf(t, repo)).get('w.safetensors')).toMatchObject({ download_status: 'completed' });
  }, 60_000);
});

describe('POST /v1/hub/import validation', () => {
  it('refuses relative, missing and non-directory paths, unknown repos, and a plain folder without repo_id', async () => {
    const file = path.join(workDir, 'a-file');
    await fs.writeFile(file, 'x');
    const empty = await fs.mkdtemp(path.join(workDir, 'empty-'));
    const cases: [unknown, number, string][] = [
      [{ path: 'relative/dir' }, 400, 'INVALID_PATH'],
      [{ path: path.join(workDir, 'missing') }, 403, 'IMPORT_PATH_REFUSED'],
      [{ path: file }, 400, 'INVALID_PATH'],
      [{ path: empty, repo_id: 'imp/nope' }, 404, 'REPO_NOT_FOUND'],
      [{ path: empty }, 400, 'VALIDATION_FAILED'],
      [{ path: empty, extra: 1 }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code] of cases) {
      const response = await t.request('POST', '/v1/hub/import', body);
      expect({ body, status: response.status, code: response.body.error?.code }).toEqual({
        body,
        status,
        code,
      });
    }
  });
});
