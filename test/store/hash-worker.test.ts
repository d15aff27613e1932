import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ContentHasher, INLINE_HASH_MAX_BYTES } from '../../src/store/content-hasher.js';
import { HashWorker } from '../../src/store/hash-worker.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) =>
  createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

/** Small slots, so a few KiB already cross many slot (batch) boundaries. */
const SLOT_BYTES = 4096;
const worker = new HashWorker(SLOT_BYTES);
afterAll(() => worker.close());

function offloaded(options: { gitBlobSize?: number } = {}, on = worker): ContentHasher {
  const hasher = new ContentHasher({ ...options, worker: on, expectedBytes: INLINE_HASH_MAX_BYTES });
  expect(hasher.offloaded).toBe(true);
  return hasher;
}

/** Feeds `bytes` in chunks of the given sizes (cycled), as the network would. */
function feed(hasher: ContentHasher, bytes: Buffer, chunkSizes: number[]): void {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = chunkSizes[i % chunkSizes.length] as number;
    hasher.update(bytes.subarray(at, at + size));
    at += size;
  }
}

describe('ContentHasher on the hash worker', () => {
  const sizes = [0, 1, 55, 4095, 4096, 4097, 8192, 3 * 4096 + 17, 100_000, 1_000_003];
  const chunkings = [[1], [7, 4096, 13], [4096], [4095, 2], [65_536], [1_000_000]];

  it('gives the digests node:crypto gives, for many sizes and chunkings (0 bytes, slot boundaries)', async () => {
    for (const size of sizes) {
      const bytes = randomBytes(size);
      for (const chunks of size > 10_000 ? chunkings.slice(1) : chunkings) {
        const lfs = offloaded();
        const git = offloaded({ gitBlobSize: size });
        feed(lfs, bytes, chunks);
        feed(git, bytes, chunks);
        const [a, b] = await Promise.all([lfs.digest(), git.digest()]);
        expect(a, `${size} bytes in ${chunks}`).toEqual({ sha256: sha256(bytes), gitSha1: undefined, size });
        expect(b, `${size} bytes in ${chunks}`).toEqual({
          sha256: sha256(bytes),
          gitSha1: gitSha1(bytes),
          size,
        });
      }
    }
  });

  it('keeps interleaved hashes apart and copies chunks (the caller may reuse them)', async () => {
    const one = randomBytes(50_000);
    const two = randomBytes(70_001);
    const h1 = offloaded();
    const h2 = offloaded();
    const scratch = Buffer.alloc(1000);
    for (let at = 0; at < 70_001; at += 1000) {
      if (at < one.length) {
        one.copy(scratch, 0, at, at + 1000);
        h1.update(scratch.subarray(0, Math.min(1000, one.length - at)));
        scratch.fill(0xee); // reused at once, as a pooled network buffer would be
      }
      h2.update(two.subarray(at, at + 1000));
      await h2.waitForRoom();
    }
    expect((await h1.digest()).sha256).toBe(sha256(one));
    expect((await h2.digest()).sha256).toBe(sha256(two));
  });

  it('waitForRoom holds a producer back until the worker catches up', async () => {
    const hasher = offloaded();
    const bytes = randomBytes(64 * 1024 * 1024);
    for (let at = 0; at < bytes.length; at += 1024 * 1024) {
      hasher.update(bytes.subarray(at, at + 1024 * 1024));
      await hasher.waitForRoom();
      expect(hasher.size).toBe(at + 1024 * 1024);
    }
    expect((await hasher.digest()).sha256).toBe(sha256(bytes));
  });

  it('hashes small files inline, without the worker', async () => {
    const idle = new HashWorker();
    const hasher = new ContentHasher({ worker: idle, expectedBytes: 4096, gitBlobSize: 5 });
    expect(hasher.offloaded).toBe(false);
    hasher.update(Buffer.from('hello'));
    expect((await hasher.digest()).gitSha1).toBe(gitSha1(Buffer.from('hello')));
    // No thread was started for it: closing has nothing to stop.
    expect((idle as unknown as { worker: unknown }).worker).toBeUndefined();
    await idle.close();
  });

  it('a worker failure rejects every open hash, and the next hash gets a new worker', async () => {
    const fragile = new HashWorker(SLOT_BYTES);
    try {
      const open = offloaded({}, fragile);
      open.update(randomBytes(10_000));
      const waiting = offloaded({}, fragile);
      waiting.update(randomBytes(100));
      fragile.crashForTest();
      await expect(open.digest()).rejects.toThrow(/hashing failed: hash worker crashed/);
      await expect(waiting.waitForRoom()).rejects.toThrow(/hashing failed/);
      expect(() => waiting.update(Buffer.from('more'))).toThrow(/hashing failed/);
      const fresh = offloaded({}, fragile);
      fresh.update(Buffer.from('abc'));
      expect((await fresh.digest()).sha256).toBe(sha256(Buffer.from('abc')));
    } finally {
      await fragile.close();
    }
  });

  it('close() fails open hashes instead of leaving them pending', async () => {
    const closing = new HashWorker(SLOT_BYTES);
    const hasher = offloaded({}, closing);
    hasher.update(randomBytes(20_000));
    const digest = expect(hasher.digest()).rejects.toThrow(/closed/);
    await closing.close();
    await digest;
    expect(() => new ContentHasher({ worker: closing, expectedBytes: 1 << 30 })).toThrow(/closed/);
  });

  it('a disposed hash frees its slot and leaves other hashes intact', async () => {
    const abandoned = offloaded();
    abandoned.update(randomBytes(6000));
    abandoned.dispose();
    const kept = offloaded();
    const bytes = randomBytes(9000);
    kept.update(bytes);
    expect((await kept.digest()).sha256).toBe(sha256(bytes));
  });
});
