import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub({ pageSize: 3 });
  t = await startTestApp(hub.url, { METADATA_MAX_BYTES: String(64 * 1024) });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const files = [
  { path: 'config.json', content: '{"model_type":"t5"}\n' },
  { path: 'README.md', content: '# Model\n' },
  { path: 'tokenizer/tokenizer.json', content: '{"version":"1.0"}\n' },
  { path: 'tokenizer/spiece.model', content: { size: 2000, seed: 'spiece' }, lfs: true },
  { path: 'model.safetensors', content: { size: 3 * 1024 * 1024, seed: 'weights' } },
  { path: 'big-notes.txt', content: { size: 100 * 1024, seed: 'too-big-for-metadata' }, lfs: false },
  { path: 'assets/logo.png', content: { size: 500, seed: 'logo' }, lfs: false },
];

describe('sync', () => {
  it('lists every page, classifies files, downloads small non-weight files and pins the commit', async () => {
    const { commit } = await hub.addRepo({ id: 'org/sync-me', files });
    const { model, job, artifacts } = await registerAndSync(t, 'org/sync-me', 'Org', 'SyncMe');

    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({
      commit,
      files: 7,
      created: 7,
      changed: 0,
      removed: 0,
      metadata_downloaded: 5,
    });
    expect(job.logs.join('\n')).toContain(
      'Synced 7 files, created 7 new artifacts, downloaded 5 metadata files',
    );
    const treePages = hub.requests.filter((r) => r.path === `/api/models/org/sync-me/tree/${commit}`);
    // 7 files + 2 directory entries at 3 per page: three pages, the later two reached through Link: rel="next".
    expect(treePages.length).toBe(3);
    expect(treePages.filter((r) => r.url.includes('cursor=')).length).toBe(2);

    const fetchedModel = await t.request('GET', `/v1/hub/models/${model.id}`);
    expect(fetchedModel.body).toMatchObject({ status: 'synced', commit_sha: commit, error: null });

    expect(Object.fromEntries([...artifacts].map(([p, a]) => [p, [a.file_type, a.download_status]]))).toEqual(
      {
        'config.json': ['config', 'completed'],
        'README.md': ['config', 'completed'],
        'tokenizer/tokenizer.json': ['tokenizer', 'completed'],
        'tokenizer/spiece.model': ['tokenizer', 'completed'],
        'model.safetensors': ['model', 'pending'],
        'big-notes.txt': ['config', 'pending'],
        'assets/logo.png': ['other', 'completed'],
      },
    );

    const weights = artifacts.get('model.safetensors');
    const info = await hub.fileInfo('org/sync-me', 'model.safetensors');
    expect(weights).toMatchObject({
      size: info.size,
      upstream_sha256: info.sha256,
      sha256: null,
      local_path: null,
    });

    const config = artifacts.get('config.json');
    const configBytes = await hub.expectedBytes('org/sync-me', 'config.json');
    expect(config.upstream_sha256).toBeNull();
    expect(config.upstream_oid).toBe((await hub.fileInfo('org/sync-me', 'config.json')).gitSha1);
    expect(await fs.readFile(config.local_path)).toEqual(configBytes);
    expect(config.local_path).toBe(path.join(t.storePath, 'blobs', 'sha256', config.sha256));
    const metadataCopy = path.join(
      t.storePath,
      'metadata',
      'models--org--sync-me',
      'tokenizer',
      'tokenizer.json',
    );
    expect(await fs.readFile(metadataCopy)).toEqual(
      await hub.expectedBytes('org/sync-me', 'tokenizer/tokenizer.json'),
    );
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
  });

  it('re-syncs after upstream moved: reports added, changed and removed files', async () => {
    await hub.addRepo({ id: 'org/moving', files });
    const first = await registerAndSync(t, 'org/moving', 'Org', 'Moving');
    const oldWeights = first.artifacts.get('model.safetensors');

    const next = files
      .filter((f) => f.path !== 'README.md')
      .map((f) => (f.path === 'config.json' ? { ...f, content: '{"model_type":"t5","v":2}\n' } : f));
    next.push({ path: 'generation_config.json', content: '{"max_length":20}\n' });
    const { commit } = await hub.pushCommit('org/moving', next);

    const sync = await t.request('POST', '/v1/hub/sync', { repo_id: 'org/moving' });
    expect(sync.status).toBe(202);
    expect(sync.body).toMatchObject({ status: 'pending', message: 'Sync job queued' });
    const job = await t.waitForJob(sync.body.job_id);
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({
      commit,
      previous_commit: first.model.commit_sha ?? first.job.result.commit,
      files: 7,
      created: 1,
      changed: 1,
      removed: 1,
      unchanged: 5,
      added_paths: ['generation_config.json'],
      changed_paths: ['config.json'],
      removed_paths: ['README.md'],
    });
    expect(job.logs.join('\n')).toMatch(
      /added generation_config.json; changed config.json; removed README.md/,
    );

    const after = await t.request('GET', `/v1/hub/models/${first.model.id}/artifacts`);
    const byPath = new Map<string, any>(after.body.items.map((a: any) => [a.path, a]));
    expect(byPath.get('README.md')).toMatchObject({ removed_upstream: true });
    expect(byPath.get('config.json')).toMatchObject({ download_status: 'completed', commit_sha: commit });
    expect(await fs.readFile(byPath.get('config.json').local_path, 'utf8')).toBe(
      '{"model_type":"t5","v":2}\n',
    );
    expect(byPath.get('model.safetensors')).toMatchObject({
      id: oldWeights.id,
      commit_sha: commit,
      download_status: 'pending',
    });
  });

  it.each([
    ['an unknown repo', 'org/missing', {}, 'RepoNotFound'],
    ['an unknown revision', 'org/norev', { revision: 'v9' }, 'RevisionNotFound'],
  ])('fails the job and the repo with the hub error for %s', async (_label, repoId, extra, hubCode) => {
    if (repoId === 'org/norev') await hub.addRepo({ id: repoId, files: files.slice(0, 1) });
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'V',
      name: 'N',
      source_repo_id: repoId,
      ...extra,
      auto_sync: true,
      // About the sync's failure: registering's own check would refuse the repo first.
      verify: false,
    });
    expect(registered.status).toBe(201);
    expect(registered.body.sync_job_id).toMatch(/^[0-9a-f-]{36}$/);
    const job = await t.waitForJob(registered.body.sync_job_id);
    expect(job.status).toBe('failed');
    expect(job.error).toContain(hubCode);
    const model = await t.request('GET', `/v1/hub/models/${registered.body.id}`);
    expect(model.body.status).toBe('error');
    expect(model.body.error).toBe(job.error);
  });

  it('refuses hostile paths: those artifacts fail, nothing is written outside the store', async () => {
    const hostile = [
      '../evil.txt',
      '/tmp/absolute-evil.txt',
      'a/../../escape.txt',
      'ok/./dot.txt',
      'nul\u0000byte.txt',
    ];
    await hub.addRepo({
      id: 'evil/repo',
      files: [
        ...hostile.map((p) => ({ path: p, content: `pwned ${p}` })),
        { path: 'fine.json', content: '{}' },
      ],
    });
    const outside = path.dirname(t.storePath);
    const before = new Set(await fs.readdir(outside));
    const { job, artifacts } = await registerAndSync(t, 'evil/repo', 'Evil', 'Repo');
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ files: 6, unsafe_paths: 5, metadata_downloaded: 1 });
    // A NUL is recorded as the text `\u0000` (PostgreSQL text cannot hold NUL).
    for (const p of hostile.map((h) => h.replace('\u0000', '\\u0000'))) {
      expect(artifacts.get(p)).toMatchObject({ download_status: 'failed', local_path: null });
      expect(artifacts.get(p).error).toContain('Unsafe path');
    }
    expect(artifacts.get('fine.json').download_status).toBe('completed');
    const created = (await fs.readdir(outside)).filter((name) => !before.has(name) && name.includes('evil'));
    expect(created).toEqual([]);
    await expect(fs.access('/tmp/absolute-evil.txt')).rejects.toThrow();
    const hostileFetches = hub.requests.filter(
      (r) => r.path.includes('evil.txt') || r.path.includes('escape.txt'),
    );
    expect(hostileFetches).toEqual([]);
  });
});
