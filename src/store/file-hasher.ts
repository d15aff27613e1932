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
 * what is hashed is what the disk was given. Large files are hashed on the worker thread; small
 * ones inline, with one synchronous read.
 */
export class FileHasher {
  private readonly job: WorkerHashJob | undefined;
  private readonly inline: ContentHasher | undefined;
  private fd: number | undefined;
  private hashed = 0;

  constructor(
    private readonly path: string,
    options: FileHasherOptions,
  ) {
    const { gitBlobSize } = options;
    if (options.worker && options.expectedBytes >= INLINE_HASH_MAX_BYTES) {
      this.job = options.worker.open(path, gitBlobSize);
    } else {
      this.inline = new ContentHasher(gitBlobSize === undefined ? {} : { gitBlobSize });
    }
  }

  /** True when a worker thread does the hashing. */
  get offloaded(): boolean {
    return this.job !== undefined;
  }

  /** Hashes the file's bytes from the last `end` up to this one. Throws if the worker failed. */
  hashTo(end: number): void {
    if (end <= this.hashed) return;
    if (this.job) this.job.hashTo(end);
    else this.readInline(end);
    this.hashed = end;
  }

  async digest(): Promise<HashDigest> {
    if (this.job) {
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
