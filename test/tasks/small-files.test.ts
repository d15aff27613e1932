import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { artifactsOf, downloadAndWait } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The small-file path: one GET per file (no HEAD), each verified, committed in groups (blobs durable
 * first, then rows and events in one transaction), and what a failure between the two leaves.
 */
let hub: FakeHub;
let t: TestApp;
const FILES = 240;

function smallFiles(repo: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    path: `configs/${String(i % 7)}/file-${i}.json`,
    content: `{"repo": "${repo}", "file": ${i}, "pad": "${'x'.repeat(200 + ((i * 37) % 800))}"}\n`,
    lfs: false,
  }));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

/** Every blob in blobs/ holds the bytes its name says. */
async function expectEveryBlobVerified(): Promise<string[]> {
  const dir = path.join(t.storePath, 'blobs', 'sha256');
  const names = await fs.readdir(dir);
  for (const name of names) expect(sha256(await fs.readFile(path.join(dir, name)))).toBe(name);
  return names;
}

/** Every completed artifact names a blob that is there, with its sha256 and its git blob id. */
async function expectCompletedHaveBlobs(artifacts: Map<string, any>): Promise<number> {
  let completed = 0;
  for (const a of artifacts.values()) {
    if (a.download_status !== 'completed') continue;
    completed++;
    expect(a.local_path).toBe(path.join(t.storePath, `blobs/sha256/${a.sha256}`));
    const bytes = await fs.readFile(a.local_path);
    expect(sha256(bytes)).toBe(a.sha256);
    expect(gitSha1(bytes)).toBe(a.upstream_oid ?? gitSha1(bytes));
  }
  return completed;
}

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
  await hub.addRepo({ id: 'small/many', files: smallFiles('many', FILES) });
  await hub.addRepo({ id: 'small/crash', files: smallFiles('crash', FILES) });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});
beforeEach(() => hub.resetRequests());

describe('small files', () => {
  it('are fetched with one GET each and no HEAD, verified, and the sync result lists at most 100 paths with exact counts', async () => {
    const { job, artifacts } = await registerAndSync(t, 'small/many', 'Small', 'Many');
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ files: FILES, created: FILES, metadata_downloaded: FILES });
    expect(job.result.added_paths).toHaveLength(100);
    expect(new Set(job.result.added_paths).size).toBe(100);
    for (const p of job.result.added_paths) expect(artifacts.has(p)).toBe(true);
    expect(await expectCompletedHaveBlobs(artifacts)).toBe(FILES);
    const resolves = hub.requests.filter((r) => r.path.startsWith('/small/many/resolve/'));
    expect(resolves.filter((r) => r.method === 'HEAD')).toEqual([]);
    expect(resolves.filter((r) => r.method === 'GET')).toHaveLength(FILES);
    // Each file also sits under metadata/, linked to its blob.
    const one = artifacts.get('configs/3/file-10.json');
    const linked = await fs.stat(
      path.join(t.storePath, 'metadata/models--small--many/configs/3/file-10.json'),
    );
    expect(linked.ino).toBe((await fs.stat(one.local_path)).ino);
    // The job log says it in a line or two, not one line per file.
    expect(job.logs.filter((l: string) => l.includes('Small files:')).length).toBeLessThanOrEqual(2);
    expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
    await expectEveryBlobVerified();
  });

  it('after a failure between "blobs renamed" and "rows marked completed", no blob fails its hash and no row is completed without its blob; the next run completes them', async () => {
    const store = t.app.store;
    const commitTemps = store.commitTemps.bind(store);
    const seen: { blobs: string[]; completed: number }[] = [];
    // The first group commit of several files fails right after its blobs were renamed into blobs/
    // and made durable, before any row says so: what a crash there leaves, checked at that moment.
    store.commitTemps = async (files) => {
      const committed = await commitTemps(files);
      if (seen.length === 0 && files.length > 1) {
        seen.push({
          blobs: await expectEveryBlobVerified(),
          completed: await expectCompletedHaveBlobs(await artifactsOf(t, 'small/crash')),
        });
        throw new Error('simulated crash after the blobs of a group were renamed');
      }
      return committed;
    };
    try {
      const { job, artifacts } = await registerAndSync(t, 'small/crash', 'Small', 'Crash');
      expect(seen).toHaveLength(1);
      const failed = [...artifacts.values()].filter((a) => a.download_status === 'failed');
      expect(failed.length).toBeGreaterThan(1);
      expect(failed.every((a) => a.sha256 === null && a.local_path === null)).toBe(true);
      expect(failed[0].error).toContain('simulated crash');
      expect(job.result.metadata_failed).toBe(failed.length);
      // Their blobs are in blobs/ (verified), though no row names them yet.
      const blobs = await expectEveryBlobVerified();
      expect(blobs.length).toBeGreaterThanOrEqual(FILES);
      expect(await expectCompletedHaveBlobs(artifacts)).toBe(FILES - failed.length);

      store.commitTemps = commitTemps;
      const retry = await downloadAndWait(
        t,
        failed.map((a) => a.id),
      );
      expect(retry.status).toBe('completed');
      expect(retry.result).toMatchObject({ artifacts: failed.length, failed: 0 });
      const after = await artifactsOf(t, 'small/crash');
      expect(await expectCompletedHaveBlobs(after)).toBe(FILES);
      expect(await expectEveryBlobVerified()).toHaveLength(blobs.length);
      expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
    } finally {
      store.commitTemps = commitTemps;
    }
  });

  it('are reused, not fetched again, when another repo already stored the same content', async () => {
    await hub.addRepo({ id: 'small/copy', files: smallFiles('many', 50) });
    hub.resetRequests();
    const { job, artifacts } = await registerAndSync(t, 'small/copy', 'Small', 'Copy');
    expect(job.status).toBe('completed');
    expect(await expectCompletedHaveBlobs(artifacts)).toBe(50);
    expect(hub.requests.filter((r) => r.path.startsWith('/small/copy/resolve/'))).toEqual([]);
    const original = await artifactsOf(t, 'small/many');
    const file = 'configs/1/file-8.json';
    expect(artifacts.get(file).local_path).toBe(original.get(file).local_path);
  });
});
