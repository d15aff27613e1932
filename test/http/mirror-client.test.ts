import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  downloadFile,
  downloadFileToCacheDir,
  HubApiError,
  type ListFileEntry,
  listFiles,
  modelInfo,
  snapshotDownload,
} from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BACKEND } from '../support/backend.js';
import {
  MANY,
  MANY_FILES,
  type MirrorFixture,
  sha256,
  startMirrorFixture,
  TINY,
  TINY_FILES,
} from '../support/mirror-fixture.js';

/**
 * The official JS client (@huggingface/hub) pointed at the hub with `hubUrl`: what it gets is what
 * it would get from upstream, byte for byte, and its own errors for what the hub does not hold.
 */
let f: MirrorFixture;
let cacheDir: string;

beforeAll(async () => {
  // The client announces every cache download with console.debug; the assertions say what matters.
  vi.spyOn(console, 'debug').mockImplementation(() => undefined);
  f = await startMirrorFixture();
  cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-hf-cache-'));
});

afterAll(async () => {
  await f?.close();
  if (cacheDir) await fs.rm(cacheDir, { recursive: true, force: true });
});

/** Every URL the client fetched, through its `fetch` option. */
function recordingFetch(urls: string[]): typeof fetch {
  return (input, init) => {
    urls.push(String(input instanceof Request ? input.url : input));
    return fetch(input, init);
  };
}

async function listAll(hubUrl: string, repo: string, options: { expand?: boolean } = {}) {
  const entries: ListFileEntry[] = [];
  for await (const entry of listFiles({ repo, hubUrl, recursive: true, ...options })) entries.push(entry);
  return entries;
}

/** What the hub cannot know (per-file history, security scans) left out of a comparison. */
function comparable(entries: ListFileEntry[]) {
  return entries
    .map(({ lastCommit: _, securityFileStatus: __, ...rest }) => rest)
    .sort((a, b) => a.path.localeCompare(b.path));
}

async function blobBytes(blob: Blob | null): Promise<Buffer> {
  if (!blob) throw new Error('no blob');
  return Buffer.from(await blob.arrayBuffer());
}

async function expectHubApiError(promise: Promise<unknown>, status: number, message: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubApiError);
  expect((error as HubApiError).statusCode).toBe(status);
  expect((error as HubApiError).message).toMatch(message);
}

describe(`@huggingface/hub against the hub (${BACKEND})`, () => {
  it('modelInfo: the synced commit, at HEAD (its default), main and the commit itself', async () => {
    const info = await modelInfo({ name: TINY, hubUrl: f.base, additionalFields: ['sha', 'author'] });
    expect(info).toMatchObject({
      name: TINY,
      private: false,
      gated: false,
      sha: f.commit.tiny,
      author: 'org',
    });
    expect(info.id).toMatch(/^[0-9a-f]{24}$/);
    expect(Number.isNaN(info.updatedAt.getTime())).toBe(false);
    for (const revision of ['main', f.commit.tiny]) {
      const pinned = await modelInfo({ name: TINY, hubUrl: f.base, revision, additionalFields: ['sha'] });
      expect(pinned.sha).toBe(f.commit.tiny);
    }
  });

  it('listFiles: the same recursive listing as upstream, directories included', async () => {
    const mirrored = await listAll(f.base, TINY);
    expect(comparable(mirrored)).toEqual(comparable(await listAll(f.hub.url, TINY)));
    expect(mirrored.filter((e) => e.type === 'directory').map((e) => e.path)).toEqual(
      expect.arrayContaining(['nested', 'nested/deeper', 'onnx']),
    );
    expect(JSON.stringify(mirrored)).not.toContain('xetHash');
  });

  it('listFiles: follows the hub’s own Link pages (1000, and 50 with expand) to the same listing', async () => {
    const urls: string[] = [];
    const all: ListFileEntry[] = [];
    for await (const e of listFiles({
      repo: MANY,
      hubUrl: f.base,
      recursive: true,
      fetch: recordingFetch(urls),
    })) {
      all.push(e);
    }
    expect(all).toHaveLength(MANY_FILES + 1);
    expect(comparable(all)).toEqual(comparable(await listAll(f.hub.url, MANY)));
    expect(urls).toHaveLength(2);
    expect(urls.every((u) => u.startsWith(`${f.base}/api/models/${MANY}/tree/`))).toBe(true);

    const expanded = await listAll(f.base, MANY, { expand: true });
    expect(comparable(expanded)).toEqual(comparable(all));
    expect(expanded.every((e) => e.lastCommit?.id === f.commit.many)).toBe(true);
  });

  it('downloadFile: every file, every byte as upstream has it', async () => {
    for (const spec of TINY_FILES) {
      const upstream = await f.hub.fileInfo(TINY, spec.path);
      const bytes = await blobBytes(await downloadFile({ repo: TINY, path: spec.path, hubUrl: f.base }));
      expect(bytes.length, spec.path).toBe(upstream.size);
      expect(sha256(bytes), spec.path).toBe(upstream.sha256);
    }
  });

  it('downloadFileToCacheDir: the HF cache layout, blob named by its etag, under the synced commit', async () => {
    const pointer = await downloadFileToCacheDir({
      repo: TINY,
      path: 'model.safetensors',
      hubUrl: f.base,
      cacheDir,
    });
    const upstream = await f.hub.fileInfo(TINY, 'model.safetensors');
    const repoFolder = path.join(cacheDir, 'models--org--tiny');
    expect(pointer).toBe(path.join(repoFolder, 'snapshots', f.commit.tiny, 'model.safetensors'));
    expect(await fs.realpath(pointer)).toBe(path.join(repoFolder, 'blobs', upstream.sha256));
    expect(sha256(await fs.readFile(pointer))).toBe(upstream.sha256);
  });

  it('snapshotDownload: the whole repo, every file equal to upstream', async () => {
    const snapshotCache = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-hf-snapshot-'));
    try {
      const folder = await snapshotDownload({ repo: TINY, hubUrl: f.base, cacheDir: snapshotCache });
      expect(folder).toBe(path.join(snapshotCache, 'models--org--tiny', 'snapshots', f.commit.tiny));
      const ref = await fs.readFile(path.join(snapshotCache, 'models--org--tiny', 'refs', 'main'), 'utf8');
      expect(ref).toBe(f.commit.tiny);
      for (const spec of TINY_FILES) {
        const upstream = await f.hub.fileInfo(TINY, spec.path);
        const bytes = await fs.readFile(path.join(folder, spec.path));
        expect(sha256(bytes), spec.path).toBe(upstream.sha256);
        const blobName = path.basename(await fs.realpath(path.join(folder, spec.path)));
        expect(blobName, spec.path).toBe(upstream.lfs ? upstream.sha256 : upstream.gitSha1);
      }
    } finally {
      await fs.rm(snapshotCache, { recursive: true, force: true });
    }
  });

  it('a missing file is EntryNotFound (downloadFile gives null); one not downloaded yet is pulled through', async () => {
    expect(await downloadFile({ repo: TINY, path: 'no/such/file.bin', hubUrl: f.base })).toBeNull();
    const shard = 'shards/part-0000.safetensors';
    const blob = await downloadFile({ repo: MANY, path: shard, hubUrl: f.base });
    const bytes = Buffer.from((await blob?.arrayBuffer()) ?? new ArrayBuffer(0));
    expect(bytes).toEqual(await f.hub.expectedBytes(MANY, shard));
  });

  it('a missing repo or revision raises HubApiError with the hub’s status and message', async () => {
    await expectHubApiError(modelInfo({ name: 'org/absent', hubUrl: f.base }), 404, /Repository not found/);
    await expectHubApiError(listAll(f.base, 'org/absent'), 404, /Repository not found/);
    await expectHubApiError(
      downloadFile({ repo: 'org/absent', path: 'config.json', hubUrl: f.base }),
      404,
      /Repository not found/,
    );
    await expectHubApiError(
      modelInfo({ name: TINY, hubUrl: f.base, revision: 'v9' }),
      404,
      /Invalid rev id: v9/,
    );
    await expectHubApiError(
      downloadFile({ repo: TINY, path: 'config.json', hubUrl: f.base, revision: 'refs/pr/1' }),
      404,
      /Invalid rev id: refs\/pr\/1/,
    );
    await expectHubApiError(
      listFiles({ repo: TINY, hubUrl: f.base, revision: 'nope' }).next(),
      404,
      /Invalid rev id: nope/,
    );
  });
});
