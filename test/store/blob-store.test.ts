import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { ContentHasher, gitBlobSha1 } from '../../src/store/content-hasher.js';
import { FileWriter } from '../../src/store/file-writer.js';

let root: string;
let store: BlobStore;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'blob-store-'));
  store = new BlobStore(root);
  await store.init();
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function writeTemp(content: Buffer): Promise<string> {
  const writer = await FileWriter.open(path.join(store.tempDir, `artifact-${Math.random()}.part`), {
    keep: false,
  });
  // Out of order on purpose: positional writes land where they belong.
  const offsets = Array.from({ length: Math.ceil(content.length / 1000) }, (_, i) => i * 1000).reverse();
  for (const offset of offsets) await writer.writeAt([content.subarray(offset, offset + 1000)], offset);
  await writer.finish();
  return writer.path;
}

describe('BlobStore', () => {
  it('commits a temp file to blobs/sha256/<hash> and leaves temp/ empty', async () => {
    const content = Buffer.from('x'.repeat(5000));
    const temp = await writeTemp(content);
    expect(path.dirname(temp)).toBe(store.tempDir);
    const result = await store.commitTemp(temp, sha256(content));
    expect(result).toEqual({ relativePath: `blobs/sha256/${sha256(content)}`, deduplicated: false });
    expect(await fs.readFile(path.join(root, result.relativePath))).toEqual(content);
    expect(await fs.readdir(store.tempDir)).toEqual([]);
    expect(await store.hasBlob(sha256(content))).toBe(true);
  });

  it('drops the second copy of the same content', async () => {
    const content = Buffer.from('same bytes');
    await store.commitTemp(await writeTemp(content), sha256(content));
    const second = await store.commitTemp(await writeTemp(content), sha256(content));
    expect(second.deduplicated).toBe(true);
    expect(await fs.readdir(store.blobsDir)).toEqual([sha256(content)]);
    expect(await fs.readdir(store.tempDir)).toEqual([]);
  });

  it('refuses a blob name that is not a sha256', async () => {
    expect(() => store.blobRelativePath('../../etc/passwd')).toThrow('Not a sha256');
    await expect(store.commitTemp(await writeTemp(Buffer.from('a')), 'ABC')).rejects.toThrow('Not a sha256');
  });

  it('hard-links metadata files from their blob, replacing an older version', async () => {
    const v1 = Buffer.from('{"v":1}');
    const v2 = Buffer.from('{"v":2}');
    await store.commitTemp(await writeTemp(v1), sha256(v1));
    await store.commitTemp(await writeTemp(v2), sha256(v2));
    const rel = await store.materializeMetadata(
      'models--Wan-AI--Wan2.1',
      'google/umt5-xxl/config.json',
      sha256(v1),
    );
    expect(rel).toBe('metadata/models--Wan-AI--Wan2.1/google/umt5-xxl/config.json');
    await store.materializeMetadata('models--Wan-AI--Wan2.1', 'google/umt5-xxl/config.json', sha256(v2));
    const target = path.join(root, rel);
    expect(await fs.readFile(target)).toEqual(v2);
    expect((await fs.stat(target)).ino).toBe((await fs.stat(store.blobPath(sha256(v2)))).ino);
    await expect(
      store.materializeMetadata('models--Wan-AI--Wan2.1', '../escape.json', sha256(v2)),
    ).rejects.toThrow('Unsafe path');
  });
});

describe('ContentHasher', () => {
  it('matches git hash-object for plain files', async () => {
    expect(gitBlobSha1(Buffer.from('Hello, World!'))).toBe('b45ef6fec89518d314f546fd6c3025367b721684');
    const hasher = new ContentHasher({ gitBlobSize: 13 });
    hasher.update(Buffer.from('Hello, '));
    hasher.update(Buffer.from('World!'));
    expect(await hasher.digest()).toEqual({
      sha256: sha256(Buffer.from('Hello, World!')),
      gitSha1: 'b45ef6fec89518d314f546fd6c3025367b721684',
      size: 13,
    });
  });
  it('skips the git hash for LFS files', async () => {
    const hasher = new ContentHasher();
    hasher.update(Buffer.from('abc'));
    expect((await hasher.digest()).gitSha1).toBeUndefined();
  });
});
