import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { ContentHasher } from './content-hasher.js';

/** What upstream advertised for a file: its content must match before it may enter blobs/. */
export interface ExpectedContent {
  path: string;
  size: number;
  /** LFS sha256; null for plain git files. */
  sha256: string | null;
  /** Git blob sha1, verified when there is no LFS sha256. */
  gitOid: string | null;
}

export interface AdoptedBlob {
  sha256: string;
  /** linked: the blob is a hard link to the source; copied: its bytes were copied; deduplicated: the store had them. */
  how: 'linked' | 'copied' | 'deduplicated';
}

const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Brings a file from outside the store into `blobs/` without trusting it, and without moving or
 * changing the source. The source is first hard-linked into temp/ (same file system: no byte
 * copied) or, where a link is impossible, copied there; what is hashed is that staged file, so a
 * source changing after the check cannot slip other bytes in. Only verified content is renamed
 * into place; a mismatch throws an IntegrityError and leaves nothing behind.
 */
export async function adoptFile(
  store: BlobStore,
  sourcePath: string,
  expected: ExpectedContent,
  onBytes: (bytesDone: number, bytesNow: number) => void,
): Promise<AdoptedBlob> {
  const staging = path.join(store.tempDir, `import-${randomBytes(8).toString('hex')}`);
  try {
    const linked = await tryHardLink(sourcePath, staging);
    const digest = linked
      ? await hashFile(staging, expected, onBytes)
      : await copyHashing(sourcePath, staging, expected, onBytes);
    verify(expected, digest);
    await syncFile(staging);
    const { deduplicated } = await store.commitTemp(staging, digest.sha256);
    return { sha256: digest.sha256, how: deduplicated ? 'deduplicated' : linked ? 'linked' : 'copied' };
  } finally {
    // Gone already once committed; removes the staged copy or link after a mismatch.
    await fs.rm(staging, { force: true });
  }
}

async function tryHardLink(source: string, target: string): Promise<boolean> {
  try {
    await fs.link(source, target);
    return true;
  } catch (error) {
    // Another file system, or linking refused (protected_hardlinks for files we do not own).
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'EACCES') return false;
    throw error;
  }
}

type Digest = Awaited<ReturnType<ContentHasher['digest']>>;

function hasherFor(expected: ExpectedContent): ContentHasher {
  return new ContentHasher(expected.sha256 ? {} : { gitBlobSize: expected.size });
}

async function hashFile(
  file: string,
  expected: ExpectedContent,
  onBytes: (bytesDone: number, bytesNow: number) => void,
): Promise<Digest> {
  const hasher = hasherFor(expected);
  for await (const chunk of createReadStream(file, {
    highWaterMark: READ_CHUNK_BYTES,
  }) as AsyncIterable<Buffer>) {
    hasher.update(chunk);
    onBytes(hasher.size, chunk.byteLength);
    if (hasher.size > expected.size) break;
  }
  return await hasher.digest();
}

async function copyHashing(
  source: string,
  target: string,
  expected: ExpectedContent,
  onBytes: (bytesDone: number, bytesNow: number) => void,
): Promise<Digest> {
  const hasher = hasherFor(expected);
  const handle = await fs.open(target, 'wx');
  try {
    for await (const chunk of createReadStream(source, {
      highWaterMark: READ_CHUNK_BYTES,
    }) as AsyncIterable<Buffer>) {
      hasher.update(chunk);
      await handle.write(chunk);
      onBytes(hasher.size, chunk.byteLength);
      if (hasher.size > expected.size) break;
    }
  } finally {
    await handle.close();
  }
  return await hasher.digest();
}

async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function verify(expected: ExpectedContent, digest: Digest): void {
  if (digest.size !== expected.size) {
    throw new IntegrityError('size', `${expected.size} bytes`, `${digest.size} bytes`, expected.path);
  }
  if (expected.sha256 !== null) {
    if (digest.sha256 !== expected.sha256)
      throw new IntegrityError('sha256', expected.sha256, digest.sha256, expected.path);
  } else if (expected.gitOid !== null && digest.gitSha1 !== expected.gitOid) {
    throw new IntegrityError('git-sha1', expected.gitOid, digest.gitSha1 ?? 'none', expected.path);
  }
}
