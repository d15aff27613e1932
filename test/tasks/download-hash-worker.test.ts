import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { HashWorker } from '../../src/store/hash-worker.js';
import { PartialDownloads } from '../../src/store/partial-downloads.js';
import { type TransferTarget, transferFile } from '../../src/tasks/download/transfer.js';
import { HfClient } from '../../src/upstream/hf-client.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { MiB } from '../support/download-helpers.js';

/** The download engine with its hashing on a worker thread: same verification, clean failure. */
class CrashOnce extends HashWorker {
  crashes = 1;
  override open(file: string, gitBlobSize: number | undefined) {
    const job = super.open(file, gitBlobSize);
    if (this.crashes-- > 0) this.crashForTest();
    return job;
  }
}

const REPO = 'hashing/worker';
let hub: FakeHub;
let root: string;
let store: BlobStore;
let client: HfClient;
const workers: HashWorker[] = [];

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({
    id: REPO,
    files: [
      { path: 'big.bin', content: { size: 6 * MiB + 11, seed: 'big' } },
      { path: 'tampered.bin', content: { size: 3 * MiB, seed: 'tampered' } },
    ],
  });
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'hash-worker-transfer-'));
  store = new BlobStore(root);
  await store.init();
  client = new HfClient({
    endpoint: hub.url,
    token: undefined,
    timeoutMs: 5000,
    stallTimeoutMs: 5000,
    retry: { maxRetries: 1, baseDelayMs: 5 },
    userAgent: 'test',
  });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await client?.close();
  await hub?.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function target(file: string): Promise<TransferTarget> {
  const info = await hub.fileInfo(REPO, file);
  const commit = await client.resolveCommit(REPO, 'main');
  return {
    key: randomUUID(),
    repoId: REPO,
    commit,
    path: file,
    size: info.size,
    sha256: info.sha256,
    gitOid: null,
  };
}

function download(file: TransferTarget, hashWorker: HashWorker, connectionsPerFile = 4) {
  workers.push(hashWorker);
  return transferFile(
    {
      hub: client,
      store,
      partials: new PartialDownloads(store.tempDir),
      log: async () => undefined,
      onProgress: () => undefined,
      metrics: { upstreamRetry: () => undefined, integrityFailure: () => undefined },
    },
    file,
    {
      retry: { maxRetries: 1, baseDelayMs: 5 },
      parallelThresholdBytes: 2 * MiB,
      connectionsPerFile,
      chunkBytes: 512 * 1024,
      connectionBudget: pLimit(8),
      hashWorker,
    },
  );
}

async function blobs(): Promise<string[]> {
  return fs.readdir(store.blobsDir);
}

describe('transfer with the hash worker', () => {
  it('stores a parallel download under the sha256 the worker computed', async () => {
    const big = await target('big.bin');
    const result = await download(big, new HashWorker());
    expect(result.sha256).toBe(big.sha256);
    expect(await blobs()).toContain(big.sha256);
    await store.deleteBlob(big.sha256 as string);
  });

  it('fails the download when the worker dies, stores nothing, and the next download works', async () => {
    const big = await target('big.bin');
    const worker = new CrashOnce();
    await expect(download(big, worker)).rejects.toThrow(/hashing failed/);
    expect(await blobs()).not.toContain(big.sha256);
    expect(await fs.readdir(store.tempDir)).toEqual([]);
    const again = await download(big, worker, 1);
    expect(again.sha256).toBe(big.sha256);
  });

  it('rejects corrupted bytes hashed on the worker with an IntegrityError', async () => {
    hub.addFault({ filePath: 'tampered.bin', corrupt: true, times: 10 });
    const tampered = await target('tampered.bin');
    await expect(download(tampered, new HashWorker())).rejects.toThrow(
      new RegExp(`tampered.bin: expected sha256 ${tampered.sha256}, got [0-9a-f]{64}`),
    );
    expect(await blobs()).not.toContain(tampered.sha256);
  });
});
