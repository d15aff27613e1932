import { createHash, randomBytes } from 'node:crypto';
import fsSync, { createReadStream, type Dirent, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Invalid } from '../errors.js';
import { repoFolderName } from './hf-cache-layout.js';
import { safeJoin } from './safe-path.js';

/**
 * Store layout (this module owns it):
 *
 *   <root>/blobs/sha256/<64 hex>        immutable content, named by its sha256
 *   <root>/metadata/models--<owner>--<name>/<path>  small metadata files, hard-linked (or copied) from blobs
 *   <root>/temp/<artifact>.part[.json]  partial downloads and their resume state; never read as content
 *   <root>/quarantine/sha256/<hash>.<ms>  blobs a deep scan found corrupt; kept, never read as content
 *
 * Content reaches `blobs/` only through `commitTemp` (or `commitTemps`, the same for a group of
 * small files): the writer has already verified and fsynced it, the rename is atomic, and the
 * directory is fsynced after it (once per group).
 */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The metadata folder of an upstream repo, named as the Hugging Face cache names repos:
 * `owner/name` → `models--owner--name`. Unique by construction: repo ids never contain `--`, and
 * neither part starts or ends with `-` (services/repo-id.ts), so the first `--` is the separator.
 * Folders of the layout before it (`<Vendor>_<Name>`, which two repos could share) never contain
 * `--` and never start with `models--`.
 */
export function metadataFolder(repoId: string): string {
  return repoFolderName(repoId);
}

const CURRENT_METADATA_FOLDER = /^models--/;

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

  /** Free and total space of the filesystem holding the store. */
  async diskSpace(): Promise<{ freeBytes: number; totalBytes: number }> {
    const stats = await fs.statfs(this.root);
    return { freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
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
   * Writes a small verified content to a new temp file and makes it durable (fsync), ready for
   * `commitTemps`. The name is unique (`<key>.part.<random>.tmp`, which a scan treats as a stale
   * temp of artifact `key`), so two writers of the same content never share a file.
   */
  async writeTemp(key: string, content: Uint8Array): Promise<string> {
    const tempPath = safeJoin(this.tempDir, `${key}.part.${randomBytes(6).toString('hex')}.tmp`);
    // A few KiB: write and close on this thread cost less than trips to libuv's pool (four
    // threads, shared with every other file operation). The open and the fsync go there: creating
    // a file can wait for the journal while other files' fsyncs commit it (measured: an open on
    // this thread then blocked it ~0.15 ms per file, and files/s dropped by ~15 %).
    const fd = await openFd(tempPath, 'wx');
    try {
      const bytesWritten = fsSync.writeSync(fd, content, 0, content.byteLength, 0);
      if (bytesWritten !== content.byteLength)
        throw new Error(`short write: ${bytesWritten} of ${content.byteLength} bytes`);
      await fsyncFd(fd);
    } catch (error) {
      fsSync.closeSync(fd);
      fsSync.rmSync(tempPath, { force: true });
      throw error;
    }
    fsSync.closeSync(fd);
    return tempPath;
  }

  /**
   * `commitTemp` for many files at once (a group commit): each verified, fsynced temp file is
   * renamed to its content address (or dropped when that blob exists), then blobs/ is fsynced once
   * for the whole group. When it resolves, every blob of the group is durable; when it rejects,
   * some may be (each complete and verified: a rename is all or nothing), and the temp files left
   * are removed.
   */
  async commitTemps(files: readonly { tempPath: string; sha256: string }[]): Promise<CommitResult[]> {
    try {
      // A check and an atomic rename each, on this thread (see writeTemp); two files of one
      // content both land whole (the same verified bytes), whichever rename is last.
      const results = files.map((file): CommitResult => {
        const relativePath = this.blobRelativePath(file.sha256);
        const target = path.join(this.root, relativePath);
        if (fsSync.existsSync(target)) {
          fsSync.rmSync(file.tempPath, { force: true });
          return { relativePath, deduplicated: true };
        }
        fsSync.renameSync(file.tempPath, target);
        return { relativePath, deduplicated: false };
      });
      if (results.some((r) => !r.deduplicated)) await fsyncDirectory(this.blobsDir);
      return results;
    } catch (error) {
      await Promise.all(files.map((f) => fs.rm(f.tempPath, { force: true })));
      throw error;
    }
  }

  /** Removes temp files written by `writeTemp` that will not be committed. */
  async discardTemps(tempPaths: readonly string[]): Promise<void> {
    await Promise.all(tempPaths.map((p) => fs.rm(p, { force: true })));
  }

  /**
   * Places a blob at metadata/<folder>/<repoPath>: a hard link (no bytes copied), or a copy where
   * links are impossible. Replaces an older version atomically.
   */
  async materializeMetadata(folder: string, repoPath: string, sha256: string): Promise<string> {
    const target = safeJoin(this.metadataDir, `${folder}/${repoPath}`);
    const relative = path.relative(this.root, target).split(path.sep).join('/');
    // The common case, a new file in a folder that exists: one link, no staging name.
    if (await linkIfNew(this.blobPath(sha256), target)) return relative;
    await fs.mkdir(path.dirname(target), { recursive: true });
    const staging = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.link(this.blobPath(sha256), staging);
    } catch (error) {
      if (!isErrno(error, 'EXDEV') && !isErrno(error, 'EPERM') && !isErrno(error, 'EMLINK')) throw error;
      await fs.copyFile(this.blobPath(sha256), staging);
    }
    await fs.rename(staging, target);
    // rename() is a no-op when both names already link the same inode (materialized before):
    // the staging name would be left behind.
    await fs.rm(staging, { force: true });
    return relative;
  }

  /**
   * Every entry of blobs/sha256/, streamed (it may hold millions). An entry that is not a file named
   * by a sha256 comes back as `unexpected`, for callers to report; nothing here touches it.
   */
  async *listBlobs(): AsyncGenerator<BlobListing> {
    for await (const entry of await fs.opendir(this.blobsDir)) {
      if (!entry.isFile() || !SHA256_HEX.test(entry.name)) {
        yield { kind: 'unexpected', name: entry.name };
        continue;
      }
      const stat = await statIfExists(path.join(this.blobsDir, entry.name));
      if (stat) yield { kind: 'blob', sha256: entry.name, ...describeFile(stat) };
    }
  }

  /** Size, mtime and identity of a blob; undefined when it is not there. */
  async statBlob(sha256: string): Promise<StoredFile | undefined> {
    const stat = await statIfExists(this.blobPath(sha256));
    return stat ? describeFile(stat) : undefined;
  }

  /** The sha256 of a blob's bytes as they are on disk now; `onBytes` sees each chunk's length. */
  async hashBlob(sha256: string, onBytes: (bytes: number) => void): Promise<string> {
    return hashFile(this.blobPath(sha256), onBytes);
  }

  /**
   * Moves a blob whose bytes no longer match its name to quarantine/sha256/<hash>.<ms timestamp>:
   * out of the way of every reader, but kept for inspection, never deleted here.
   */
  async quarantineBlob(sha256: string): Promise<string> {
    const relativePath = `quarantine/sha256/${sha256}.${Date.now()}`;
    const target = safeJoin(this.root, relativePath);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(this.blobPath(sha256), target);
    return relativePath;
  }

  async deleteBlob(sha256: string): Promise<void> {
    await fs.rm(this.blobPath(sha256), { force: true });
  }

  /** Plain files directly in temp/ (partial downloads, their resume state, staging files). */
  async *listTemp(): AsyncGenerator<{ name: string } & StoredFile> {
    for await (const entry of await fs.opendir(this.tempDir)) {
      if (!entry.isFile()) continue;
      const stat = await statIfExists(path.join(this.tempDir, entry.name));
      if (stat) yield { name: entry.name, ...describeFile(stat) };
    }
  }

  async removeTemp(name: string): Promise<void> {
    await fs.rm(safeJoin(this.tempDir, name), { force: true });
  }

  /**
   * Whether metadata/<folder>/<repoPath> holds the blob's bytes: a link to it (same inode), or a
   * copy with the same size and sha256.
   */
  async metadataState(
    folder: string,
    repoPath: string,
    sha256: string,
  ): Promise<'ok' | 'missing' | 'differs'> {
    const file = safeJoin(this.metadataDir, `${folder}/${repoPath}`);
    const [metadata, blob] = await Promise.all([statIfExists(file), statIfExists(this.blobPath(sha256))]);
    if (!metadata?.isFile()) return 'missing';
    if (blob && metadata.ino === blob.ino && metadata.dev === blob.dev) return 'ok';
    if (blob && metadata.size !== blob.size) return 'differs';
    return (await hashFile(file, () => undefined)) === sha256 ? 'ok' : 'differs';
  }

  /** Folders under metadata/ in the layout before `models--owner--name` (see `metadataFolder`). */
  async listLegacyMetadataFolders(): Promise<string[]> {
    const entries = await fs.readdir(this.metadataDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !CURRENT_METADATA_FOLDER.test(e.name))
      .map((e) => e.name)
      .sort();
  }

  /** Removes metadata/<folder> and everything in it (links and copies only: blobs keep the bytes). */
  async removeMetadataFolder(folder: string): Promise<void> {
    if (folder === '' || folder === '.' || folder === '..' || /[\\/]/.test(folder)) {
      throw new Invalid('INVALID_PATH', `Not a metadata folder name: ${folder}`);
    }
    await fs.rm(safeJoin(this.metadataDir, folder), { recursive: true, force: true, maxRetries: 3 });
  }

  /** Files under metadata/ that are hard links to one of `files` (by device and inode), store-relative. */
  async findMetadataLinks(files: readonly StoredFile[]): Promise<Map<StoredFile, string[]>> {
    const byIdentity = new Map(files.map((f) => [`${f.device}:${f.inode}`, f]));
    const links = new Map<StoredFile, string[]>();
    for await (const file of walkFiles(this.metadataDir)) {
      const stat = await statIfExists(file);
      const owner = stat && byIdentity.get(`${stat.dev}:${stat.ino}`);
      if (!owner) continue;
      const relative = path.relative(this.root, file).split(path.sep).join('/');
      links.set(owner, [...(links.get(owner) ?? []), relative]);
    }
    return links;
  }

  /** Removes a metadata file (store-relative path) unless it changed identity since it was found. */
  async removeMetadataLink(relativePath: string, expected: StoredFile): Promise<boolean> {
    if (!relativePath.startsWith('metadata/')) {
      throw new Invalid('INVALID_PATH', `Not a metadata path: ${relativePath}`);
    }
    const file = safeJoin(this.root, relativePath);
    const stat = await statIfExists(file);
    if (!stat || stat.ino !== expected.inode || stat.dev !== expected.device) return false;
    await fs.rm(file, { force: true });
    return true;
  }
}

/** A file's size, modification time and identity (device, inode) as the store compares them. */
export interface StoredFile {
  sizeBytes: number;
  mtimeMs: number;
  device: number;
  inode: number;
}

export type BlobListing =
  | ({ kind: 'blob'; sha256: string } & StoredFile)
  | { kind: 'unexpected'; name: string };

function describeFile(stat: Stats): StoredFile {
  return { sizeBytes: stat.size, mtimeMs: stat.mtimeMs, device: stat.dev, inode: stat.ino };
}

async function statIfExists(p: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(p);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

async function hashFile(file: string, onBytes: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  // Large reads: hashing, not syscalls, should be what limits the rate.
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    onBytes(chunk.byteLength);
  }
  return hash.digest('hex');
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walkFiles(full);
    else if (entry.isFile()) yield full;
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

/** Hard-links `blob` at `target` when nothing is there yet and its folder exists; false otherwise. */
async function linkIfNew(blob: string, target: string): Promise<boolean> {
  try {
    // One link on this thread: cheaper than a trip to libuv's pool (see writeTemp).
    fsSync.linkSync(blob, target);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST') || isErrno(error, 'ENOENT')) return false;
    if (isErrno(error, 'EXDEV') || isErrno(error, 'EPERM') || isErrno(error, 'EMLINK')) return false;
    throw error;
  }
}

const fsyncFd = promisify(fsSync.fsync);
const openFd = promisify(fsSync.open);

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
