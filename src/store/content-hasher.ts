import { createHash, type Hash } from 'node:crypto';
import type { HashDigest, HashWorker, WorkerHashJob } from './hash-worker.js';

export type { HashDigest } from './hash-worker.js';

/**
 * Files smaller than this are hashed inline: a worker round trip (~0.1 ms) costs more than hashing
 * them (1 MiB of SHA-256 takes ~1 ms, and plain git files are a few KiB). Measured crossover in
 * bench/download.bench.ts ("hash worker crossover").
 */
export const INLINE_HASH_MAX_BYTES = 1024 * 1024;
/** Bytes one hash may have waiting for the worker before `waitForRoom` holds the producer back. */
const MAX_WORKER_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface ContentHasherOptions {
  /** Also compute the git blob SHA-1 of a plain git file of this size. */
  gitBlobSize?: number;
  /**
   * Hash on this worker thread instead of the calling thread, when `expectedBytes` is at least
   * `INLINE_HASH_MAX_BYTES` (small files never pay a round trip).
   */
  worker?: HashWorker | undefined;
  /** How many bytes the content is expected to have (decides inline or worker). */
  expectedBytes?: number;
}

/**
 * Hashes content in one pass as it streams: SHA-256 always (the blob's name), and the git blob
 * SHA-1 (`sha1("blob <size>\0" + bytes)`) when the file is a plain git file whose size is known.
 * Large content is hashed on a worker thread (see hash-worker.ts), small content inline; callers
 * see the same interface either way: `update` in order, `waitForRoom` between updates to bound
 * memory, `digest()` once, or `dispose()` when abandoning the hash.
 */
export class ContentHasher {
  private readonly sha256: Hash | undefined;
  private readonly gitSha1: Hash | undefined;
  private readonly job: WorkerHashJob | undefined;
  private bytes = 0;

  constructor(options: ContentHasherOptions = {}) {
    if (options.worker && (options.expectedBytes ?? 0) >= INLINE_HASH_MAX_BYTES) {
      this.job = options.worker.open(options.gitBlobSize);
      return;
    }
    this.sha256 = createHash('sha256');
    if (options.gitBlobSize !== undefined) {
      this.gitSha1 = createHash('sha1').update(`blob ${options.gitBlobSize}\0`);
    }
  }

  /** True when a worker thread does the hashing. */
  get offloaded(): boolean {
    return this.job !== undefined;
  }

  /** Hashes `chunk` (copied: the caller may reuse it). Throws if the worker failed. */
  update(chunk: Uint8Array): void {
    if (this.job) this.job.update(chunk);
    else {
      this.sha256?.update(chunk);
      this.gitSha1?.update(chunk);
    }
    this.bytes += chunk.byteLength;
  }

  get size(): number {
    return this.bytes;
  }

  /** Resolves when the worker has caught up enough to take more; rejects if it failed. */
  async waitForRoom(signal?: AbortSignal): Promise<void> {
    await this.job?.waitForRoom(MAX_WORKER_BACKLOG_BYTES, signal);
  }

  async digest(): Promise<HashDigest> {
    if (this.job) {
      const { sha256, gitSha1 } = await this.job.digest();
      return { sha256, gitSha1, size: this.bytes };
    }
    return {
      sha256: (this.sha256 as Hash).digest('hex'),
      gitSha1: this.gitSha1?.digest('hex'),
      size: this.bytes,
    };
  }

  /** Abandons the hash (frees the worker's state); a no-op after `digest()`. */
  dispose(): void {
    this.job?.dispose();
  }
}

export function gitBlobSha1(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}
