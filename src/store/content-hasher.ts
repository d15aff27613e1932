import { createHash, type Hash } from 'node:crypto';
import type { HashDigest } from './hash-worker.js';

export type { HashDigest } from './hash-worker.js';

export interface ContentHasherOptions {
  /** Also compute the git blob SHA-1 of a plain git file of this size. */
  gitBlobSize?: number;
}

/**
 * Hashes content in one pass as it streams, on the calling thread: SHA-256 always (the blob's
 * name), and the git blob SHA-1 (`sha1("blob <size>\0" + bytes)`) when the file is a plain git
 * file whose size is known. `update` in order, then `digest()` once. (A download being written to
 * disk is hashed from its file instead: see file-hasher.ts.)
 */
export class ContentHasher {
  private readonly sha256: Hash = createHash('sha256');
  private readonly gitSha1: Hash | undefined;
  private bytes = 0;

  constructor(options: ContentHasherOptions = {}) {
    if (options.gitBlobSize !== undefined) {
      this.gitSha1 = createHash('sha1').update(`blob ${options.gitBlobSize}\0`);
    }
  }

  update(chunk: Uint8Array): void {
    this.sha256.update(chunk);
    this.gitSha1?.update(chunk);
    this.bytes += chunk.byteLength;
  }

  get size(): number {
    return this.bytes;
  }

  digest(): HashDigest {
    return { sha256: this.sha256.digest('hex'), gitSha1: this.gitSha1?.digest('hex'), size: this.bytes };
  }
}

export function gitBlobSha1(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}
