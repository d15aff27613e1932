import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_SIZE,
  contentBytes,
  contentHashes,
  contentSize,
  contentStream,
  gitBlobSha1,
} from './content.js';
import { lfsPointer } from './repos.js';

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('content', () => {
  it('computes git blob sha1 like git hash-object', () => {
    expect(gitBlobSha1('Hello, World!')).toBe('b45ef6fec89518d314f546fd6c3025367b721684');
    expect(gitBlobSha1(Buffer.alloc(0))).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
  });

  it('hashes generated content deterministically, across calls and equal specs', async () => {
    const a = await contentHashes({ size: 3 * BLOCK_SIZE + 5, seed: 'stable' });
    const b = await contentHashes({ size: 3 * BLOCK_SIZE + 5, seed: 'stable' });
    const spec = { size: 3 * BLOCK_SIZE + 5, seed: 'stable' };
    expect(b).toEqual(a);
    expect(await contentHashes(spec)).toEqual(a);
    expect(await contentHashes(spec)).toBe(await contentHashes(spec));
    const bytes = contentBytes(spec);
    expect(a.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(a.gitSha1).toBe(gitBlobSha1(bytes));
    expect((await contentHashes({ size: spec.size, seed: 'other' })).sha256).not.toBe(a.sha256);
  });

  it('streams any byte range of generated content, with distinct blocks', async () => {
    const spec = { size: 2 * BLOCK_SIZE + 100, seed: 'ranges' };
    const full = contentBytes(spec);
    expect(full.length).toBe(contentSize(spec));
    expect(full.subarray(0, BLOCK_SIZE).equals(full.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE))).toBe(false);
    for (const [start, end] of [
      [0, 0],
      [3, 12],
      [BLOCK_SIZE - 3, BLOCK_SIZE + 3],
      [BLOCK_SIZE + 2, BLOCK_SIZE + 5],
      [17, spec.size - 1],
      [2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 99],
    ] as const) {
      expect((await drain(contentStream(spec, start, end))).equals(full.subarray(start, end + 1))).toBe(true);
    }
    expect((await drain(contentStream({ size: 0, seed: 'empty' }))).length).toBe(0);
  });

  it('serves the same bytes however often a file is read (its blocks share one base block)', async () => {
    const spec = { size: 3 * BLOCK_SIZE, seed: 'shared' };
    const first = contentBytes(spec);
    const chunks: Buffer[] = [];
    for await (const chunk of contentStream(spec)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(first)).toBe(true);
    expect(contentBytes(spec).equals(first)).toBe(true);
  });

  it('streams big content in blocks of at most BLOCK_SIZE, exactly its size', async () => {
    const spec = { size: 256 * BLOCK_SIZE + 5, seed: 'speed' };
    let total = 0;
    for await (const chunk of contentStream(spec)) {
      expect((chunk as Buffer).length).toBeLessThanOrEqual(BLOCK_SIZE);
      total += (chunk as Buffer).length;
    }
    expect(total).toBe(spec.size);
  });

  it('serves literal strings and buffers, and builds the exact LFS pointer', async () => {
    expect((await drain(contentStream('héllo', 1, 2))).equals(Buffer.from('héllo').subarray(1, 3))).toBe(
      true,
    );
    expect((await contentHashes(Buffer.from('Hello, World!'))).gitSha1).toBe(gitBlobSha1('Hello, World!'));
    // bert-base-uncased tf_model.h5: the 134-byte pointer hashes to the tree oid HF lists (HF-API.md §6).
    const pointer = lfsPointer('a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2', 536063208);
    expect(Buffer.byteLength(pointer)).toBe(134);
    expect(gitBlobSha1(pointer)).toBe('9eb98c817f04b051b3bcca591bcd4e03cec88018');
  });
});
