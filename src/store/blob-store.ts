import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Invalid } from '../errors.js';
import { safeJoin } from './safe-path.js';

/**
 * Store layout (this module owns it):
 *
 *   <root>/blobs/sha256/<64 hex>        immutable content, named by its sha256
 *   <root>/metadata/<Vendor>_<Name>/<path>  small metadata files, hard-linked (or copied) from blobs
 *   <root>/temp/<artifact>.part[.json]  partial downloads and their resume state; never read as content
 *
 * Content reaches `blobs/` only through `commitTemp`: the writer has already verified and fsynced
 * it, the rename is atomic, and the directory is fsynced after it.
 */
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface CommitResult {
  relativePath: string;
  /** True when the blob already existed and the temp file was dropped. */
  deduplicated: boolean;
}

export class BlobStore {
  readonly blobsDir: string;
  readonly tempDir: string;
  readonly metadataDir: string;

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.tempDir = path.join(root, 'temp');
    this.metadataDir = path.join(root, 'metadata');
  }

  async init(): Promise<void> {
    await Promise.all(
      [this.blobsDir, this.tempDir, this.metadataDir].map((d) => fs.mkdir(d, { recursive: true })),
    );
  }

  blobRelativePath(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Invalid('INVALID_PATH', `Not a sha256 hex digest: ${sha256}`);
    return `blobs/sha256/${sha256}`;
  }

  blobPath(sha256: string): string {
    return path.join(this.root, this.blobRelativePath(sha256));
  }

  absolutePath(relativePath: string): string {
    return safeJoin(this.root, relativePath);
  }

  async hasBlob(sha256: string): Promise<boolean> {
    return pathExists(this.blobPath(sha256));
  }

  /**
   * Readiness: creates and removes a probe file in temp/, where every download starts, and checks
   * that blobs/ takes new entries.
   */
  async probeWritable(): Promise<void> {
    const probe = path.join(this.tempDir, `.probe-${randomBytes(6).toString('hex')}`);
    try {
      await fs.writeFile(probe, 'ok');
    } finally {
      await fs.rm(probe, { force: true });
    }
    await fs.access(this.blobsDir, fs.constants.W_OK);
  }

  /** Moves a verified, fsynced temp file to its content address (or drops it if that blob exists). */
  async commitTemp(tempPath: string, sha256: string): Promise<CommitResult> {
    const relativePath = this.blobRelativePath(sha256);
    const target = path.join(this.root, relativePath);
    if (await pathExists(target)) {
      await fs.rm(tempPath, { force: true });
      return { relativePath, deduplicated: true };
    }
    await fs.rename(tempPath, target);
    await fsyncDirectory(this.blobsDir);
    return { relativePath, deduplicated: false };
  }

  /**
   * Places a blob at metadata/<folder>/<repoPath>: a hard link (no bytes copied), or a copy where
   * links are impossible. Replaces an older version atomically.
   */
  async materializeMetadata(folder: string, repoPath: string, sha256: string): Promise<string> {
    const target = safeJoin(this.metadataDir, `${folder}/${repoPath}`);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const staging = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.link(this.blobPath(sha256), staging);
    } catch (error) {
      if (!isErrno(error, 'EXDEV') && !isErrno(error, 'EPERM') && !isErrno(error, 'EMLINK')) throw error;
      await fs.copyFile(this.blobPath(sha256), staging);
    }
    await fs.rename(staging, target);
    return path.relative(this.root, target).split(path.sep).join('/');
  }
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
