import fs from 'node:fs/promises';
import path from 'node:path';

export interface CacheEntry {
  path: string;
  bytes: Buffer;
  /** The blob name: LFS sha256, or the git blob sha1 of plain files. */
  etag: string;
}

/**
 * Writes one repo into a Hugging Face cache the way huggingface_hub does: `blobs/<etag>`,
 * `snapshots/<commit>/<path>` as relative symlinks into blobs/, `refs/main` without a newline.
 * Returns the repo folder.
 */
export async function writeHfCacheRepo(
  cacheRoot: string,
  repoId: string,
  commit: string,
  entries: CacheEntry[],
): Promise<string> {
  const repoDir = path.join(cacheRoot, `models--${repoId.replace('/', '--')}`);
  await fs.mkdir(path.join(repoDir, 'blobs'), { recursive: true });
  await fs.mkdir(path.join(repoDir, 'refs'), { recursive: true });
  await fs.writeFile(path.join(repoDir, 'refs', 'main'), commit);
  for (const entry of entries) {
    await fs.writeFile(path.join(repoDir, 'blobs', entry.etag), entry.bytes);
    const link = path.join(repoDir, 'snapshots', commit, ...entry.path.split('/'));
    await fs.mkdir(path.dirname(link), { recursive: true });
    const depth = entry.path.split('/').length - 1;
    await fs.symlink(`${'../'.repeat(2 + depth)}blobs/${entry.etag}`, link);
  }
  return repoDir;
}
