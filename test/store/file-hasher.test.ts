import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileHasher, INLINE_HASH_MAX_BYTES } from '../../src/store/file-hasher.js';
import { HashWorker } from '../../src/store/hash-worker.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) =>
  createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

/** Small reads, so a few KiB already cross many read boundaries on the worker. */
const READ_BYTES = 4096;
const worker = new HashWorker(READ_BYTES);
let dir: string;
let files = 0;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-hasher-'));
});
afterAll(async () => {
  await worker.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function fileWith(bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, `f${files++}`);
  await fs.writeFile(file, bytes);
  return file;
}

function offloaded(file: string, options: { gitBlobSize?: number } = {}, on = worker): FileHasher {
  const hasher = new FileHasher(file, { ...options, worker: on, expectedBytes: INLINE_HASH_MAX_BYTES });
  expect(hasher.offloaded).toBe(true);
  return hasher;
}

/** Hashes the file up to its end in steps of the given sizes (cycled), as completed writes would. */
function advance(hasher: FileHasher, size: number, steps: number[]): void {
  for (let i = 0, at = 0; at < size; i++) {
    at = Math.min(size, at + (steps[i % steps.length] as number));
    hasher.hashTo(at);
  }
}

describe('FileHasher', () => {
  const sizes = [0, 1, 55, 4095, 4096, 4097, 8192, 3 * 4096 + 17, 100_000, 1_000_003];
  const stepings = [[1], [7, 4096, 13], [4096], [4095, 2], [65_536], [1_000_000]];

  it('gives the digests node:crypto gives, on the worker and inline, for many sizes and steps', async () => {
    for (const size of sizes) {
      const bytes = randomBytes(size);
      const file = await fileWith(bytes);
      for (const steps of size > 10_000 ? stepings.slice(1) : stepings) {
        const hashers = [
          offloaded(file),
          offloaded(file, { gitBlobSize: size }),
          new FileHasher(file, { gitBlobSize: size, expectedBytes: size }),
        ];
        for (const hasher of hashers) advance(hasher, size, steps);
        const [lfs, git, inline] = await Promise.all(hashers.map((h) => h.digest()));
        const expected = { sha256: sha256(bytes), gitSha1: gitSha1(bytes), size };
        expect(lfs, `${size} bytes in ${steps}`).toEqual({ ...expected, gitSha1: undefined });
        expect(git, `${size} bytes in ${steps}`).toEqual(expected);
        expect(inline, `${size} bytes in ${steps}`).toEqual(expected);
      }
    }
  });

  it('hashes what is in the file when asked, so a file that grows is hashed as it grows', async () => {
    const whole = randomBytes(50_000);
    const file = await fileWith(whole.subarray(0, 20_000));
    const hasher = offloaded(file);
    hasher.hashTo(20_000);
    await fs.appendFile(file, whole.subarray(20_000));
    hasher.hashTo(50_000);
    expect(await hasher.digest()).toEqual({ sha256: sha256(whole), gitSha1: undefined, size: 50_000 });
  });

  it('keeps interleaved hashes apart', async () => {
    const one = randomBytes(50_000);
    const two = randomBytes(70_001);
    const h1 = offloaded(await fileWith(one));
    const h2 = offloaded(await fileWith(two));
    for (let at = 1000; at < 71_000; at += 1000) {
      if (at <= one.length) h1.hashTo(at);
      h2.hashTo(Math.min(at, two.length));
    }
    h2.hashTo(two.length);
    expect((await h1.digest()).sha256).toBe(sha256(one));
    expect((await h2.digest()).sha256).toBe(sha256(two));
  });

  it('fails the hash when the file is shorter than the bytes it was asked for', async () => {
    const file = await fileWith(randomBytes(1000));
    const onWorker = offloaded(file);
    onWorker.hashTo(5000);
    await expect(onWorker.digest()).rejects.toThrow(/hashing failed: .* ends at byte 1000, before 5000/);
    const inline = new FileHasher(file, { expectedBytes: 5000 });
    expect(() => inline.hashTo(5000)).toThrow(/ends at byte 1000, before 5000/);
    inline.dispose();
  });

  it('hashes small files inline, without the worker', async () => {
    const idle = new HashWorker();
    const hello = Buffer.from('hello');
    const hasher = new FileHasher(await fileWith(hello), { worker: idle, expectedBytes: 5, gitBlobSize: 5 });
    expect(hasher.offloaded).toBe(false);
    hasher.hashTo(5);
    expect((await hasher.digest()).gitSha1).toBe(gitSha1(hello));
    // No thread was started for it: closing has nothing to stop.
    expect((idle as unknown as { worker: unknown }).worker).toBeUndefined();
    await idle.close();
  });

  it('a worker failure rejects every open hash, and the next hash gets a new worker', async () => {
    const fragile = new HashWorker(READ_BYTES);
    try {
      const file = await fileWith(Buffer.from('abc'));
      const open = offloaded(file, {}, fragile);
      open.hashTo(1);
      const waiting = offloaded(file, {}, fragile);
      fragile.crashForTest();
      await expect(open.digest()).rejects.toThrow(/hashing failed: hash worker crashed/);
      await expect(waiting.digest()).rejects.toThrow(/hashing failed/);
      const fresh = offloaded(file, {}, fragile);
      fresh.hashTo(3);
      expect((await fresh.digest()).sha256).toBe(sha256(Buffer.from('abc')));
    } finally {
      await fragile.close();
    }
  });

  it('close() fails open hashes instead of leaving them pending', async () => {
    const closing = new HashWorker(READ_BYTES);
    const file = await fileWith(randomBytes(20_000));
    const hasher = offloaded(file, {}, closing);
    hasher.hashTo(20_000);
    const digest = expect(hasher.digest()).rejects.toThrow(/closed/);
    await closing.close();
    await digest;
    expect(() => new FileHasher(file, { worker: closing, expectedBytes: 1 << 30 })).toThrow(/closed/);
  });

  it('asks the worker once per read it makes, however small the writes', async () => {
    class CountingWorker extends HashWorker {
      asked = 0;
      override post(message: Parameters<HashWorker['post']>[0]): void {
        if (message.op === 'hash') this.asked++;
        super.post(message);
      }
    }
    const counting = new CountingWorker(READ_BYTES);
    try {
      const bytes = randomBytes(10 * READ_BYTES + 5);
      const hasher = offloaded(await fileWith(bytes), {}, counting);
      advance(hasher, bytes.length, [512]);
      expect(counting.asked).toBe(10);
      expect((await hasher.digest()).sha256).toBe(sha256(bytes));
      expect(counting.asked).toBe(11);
    } finally {
      await counting.close();
    }
  });

  it('a disposed hash leaves other hashes intact', async () => {
    const bytes = randomBytes(9000);
    const file = await fileWith(bytes);
    const abandoned = offloaded(file);
    abandoned.hashTo(6000);
    abandoned.dispose();
    const kept = offloaded(file);
    kept.hashTo(9000);
    expect((await kept.digest()).sha256).toBe(sha256(bytes));
  });
});
