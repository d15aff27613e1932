import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';

/** The group commit of small files: writeTemp, then commitTemps for many at once. */
let root: string;
let store: BlobStore;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'blob-store-group-'));
  store = new BlobStore(root);
  await store.init();
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('BlobStore group commit', () => {
  it('writes unique temp files and moves a group into blobs/, dropping the copies of stored content', async () => {
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`file ${i} ${'z'.repeat(i * 10)}`));
    const first = await Promise.all(contents.slice(0, 10).map((c, i) => store.writeTemp(`a${i}`, c)));
    expect(new Set(first).size).toBe(10);
    for (const [i, temp] of first.entries()) {
      expect(path.dirname(temp)).toBe(store.tempDir);
      expect(path.basename(temp)).toMatch(new RegExp(`^a${i}\\.part\\.[0-9a-f]{12}\\.tmp$`));
    }
    const results = await store.commitTemps(
      first.map((tempPath, i) => ({ tempPath, sha256: sha256(contents[i] as Buffer) })),
    );
    expect(results.every((r) => !r.deduplicated)).toBe(true);

    // Content already stored (the first five) is dropped; the rest lands.
    const second = await Promise.all(contents.slice(5, 20).map((c, i) => store.writeTemp(`b${i}`, c)));
    const again = await store.commitTemps(
      second.map((tempPath, i) => ({ tempPath, sha256: sha256(contents[i + 5] as Buffer) })),
    );
    expect(again.map((r) => r.deduplicated)).toEqual([...Array(5).fill(true), ...Array(10).fill(false)]);
    expect(await fs.readdir(store.tempDir)).toEqual([]);
    const blobs = await fs.readdir(store.blobsDir);
    expect(blobs.sort()).toEqual(contents.map(sha256).sort());
    for (const name of blobs) expect(sha256(await fs.readFile(path.join(store.blobsDir, name)))).toBe(name);
  });

  it('leaves no temp file behind when a commit fails, and only whole, verified blobs', async () => {
    const good = Buffer.from('good content');
    const temps = [await store.writeTemp('g', good), await store.writeTemp('h', Buffer.from('other'))];
    await expect(
      store.commitTemps([
        { tempPath: temps[0] as string, sha256: sha256(good) },
        { tempPath: temps[1] as string, sha256: 'not-a-hash' },
      ]),
    ).rejects.toThrow(/Not a sha256/);
    expect(await fs.readdir(store.tempDir)).toEqual([]);
    for (const name of await fs.readdir(store.blobsDir)) {
      expect(sha256(await fs.readFile(path.join(store.blobsDir, name)))).toBe(name);
    }
  });

  it('links a new metadata file straight to its blob, and replaces an older one', async () => {
    const v1 = Buffer.from('{"v":1}');
    const v2 = Buffer.from('{"v":2}');
    for (const c of [v1, v2])
      await store.commitTemps([{ tempPath: await store.writeTemp('m', c), sha256: sha256(c) }]);
    const relative = await store.materializeMetadata('models--o--n', 'sub/config.json', sha256(v1));
    expect(relative).toBe('metadata/models--o--n/sub/config.json');
    const file = path.join(root, relative);
    expect((await fs.stat(file)).ino).toBe((await fs.stat(store.blobPath(sha256(v1)))).ino);
    await store.materializeMetadata('models--o--n', 'sub/config.json', sha256(v2));
    expect(await fs.readFile(file, 'utf8')).toBe('{"v":2}');
    expect(await fs.readdir(path.dirname(file))).toEqual(['config.json']);
  });
});
