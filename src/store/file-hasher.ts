import fs from 'node:fs';
import { ContentHasher, type HashDigest } from './content-hasher.js';
import { HASH_READ_BYTES, type HashWorker, type WorkerHashJob } from './hash-worker.js';

/**
 * Files smaller than this are hashed inline: below it, a worker round trip costs more than hashing
 * them on the event loop (measured per file, reading it back: 64 KiB inline 86 µs, on the worker
 * 154 µs; 256 KiB inline 434 µs, on the worker 350 µs, of which 2 µs on the event loop). Measured
 * in bench/download.bench.ts ("hash worker crossover").
 */
export const INLINE_HASH_MAX_BYTES = 256 * 1024;

export interface FileHasherOptions {
  /** Also compute the git blob SHA-1 of a plain git file of this size. */
  gitBlobSize?: number;
  /** Hash on this worker thread when the file has at least `INLINE_HASH_MAX_BYTES`. */
  worker?: HashWorker | undefined;
  /** How many bytes the file will have (decides inline or worker). */
  expectedBytes: number;
}

/**
 * The hash of a file while it is being written: `hashTo(end)` once the bytes before `end` are
 * written (their writes completed), in growing order; `digest()` once; or `dispose()`. The bytes
 * are read back from the file (the page cache), so nothing is held in memory for the hash, and
 * what is hashed is what the disk was given. Large files are hashed on the worker thread, which is
 * asked again only once a whole read of new bytes is waiting (and by `digest()` for the rest): one
 * message per read, not per write. Small files are hashed inline, with one synchronous read.
 */
export class FileHasher {
  private readonly job: WorkerHashJob | undefined;
  private readonly inline: ContentHasher | undefined;
  private fd: number | undefined;
  private hashed = 0;
  /** How far the worker has been asked to hash: asked again once a whole read of it is waiting. */
  private posted = 0;
  private readonly postStep: number;

  constructor(
    private readonly path: string,
    options: FileHasherOptions,
  ) {
    const { gitBlobSize } = options;
    if (options.worker && options.expectedBytes >= INLINE_HASH_MAX_BYTES) {
      this.job = options.worker.open(path, gitBlobSize);
      this.postStep = options.worker.readBytes;
    } else {
      this.postStep = 0;
      this.inline = new ContentHasher(gitBlobSize === undefined ? {} : { gitBlobSize });
    }
  }

  /** True when a worker thread does the hashing. */
  get offloaded(): boolean {
    return this.job !== undefined;
  }

  /**
   * Hashes the file's bytes from the last `end` up to this one. Throws if the worker has failed
   * (seen when it is next asked; `digest()` rejects in any case).
   */
  hashTo(end: number): void {
    if (end <= this.hashed) return;
    if (this.job) {
      // A message per read the worker makes, not per write: small writes would flood it.
      if (end - this.posted >= this.postStep) this.postTo(end);
    } else this.readInline(end);
    this.hashed = end;
  }

  async digest(): Promise<HashDigest> {
    if (this.job) {
      this.postTo(this.hashed);
      const { sha256, gitSha1 } = await this.job.digest();
      return { sha256, gitSha1, size: this.hashed };
    }
    this.closeInline();
    return (this.inline as ContentHasher).digest();
  }

  /** Abandons the hash (frees the worker's state); a no-op after `digest()`. */
  dispose(): void {
    this.job?.dispose();
    this.closeInline();
  }

  private postTo(end: number): void {
    if (end <= this.posted) return;
    (this.job as WorkerHashJob).hashTo(end);
    this.posted = end;
  }

  private readInline(end: number): void {
    this.fd ??= fs.openSync(this.path, 'r');
    const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, end - this.hashed));
    for (let at = this.hashed; at < end; ) {
      const n = fs.readSync(this.fd, buffer, 0, Math.min(buffer.length, end - at), at);
      if (n === 0) throw new Error(`${this.path} ends at byte ${at}, before ${end}`);
      (this.inline as ContentHasher).update(buffer.subarray(0, n));
      at += n;
    }
  }

  private closeInline(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
