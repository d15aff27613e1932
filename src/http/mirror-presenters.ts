import { lfsPointer, type MirrorFile, type MirrorRepo } from '../services/mirror.service.js';
import type { TreeEntry } from '../services/mirror-tree.js';

/**
 * The Hugging Face API's JSON shapes (camelCase as the hub sends them), from what the mirror
 * holds. What the hub does not know (downloads, likes, tags, the per-file last commit) is given
 * its neutral value: counters 0, no tags, and the synced commit as every file's `lastCommit`.
 */
export function presentModelInfo(
  repo: MirrorRepo,
  files: readonly MirrorFile[],
  options: { blobs: boolean; expand: readonly string[] },
): Record<string, unknown> {
  const info: Record<string, unknown> = {
    _id: mongoStyleId(repo.modelId),
    id: repo.repoId,
    modelId: repo.repoId,
    author: repo.repoId.includes('/') ? repo.repoId.split('/')[0] : undefined,
    sha: repo.commit,
    lastModified: repo.syncedAt,
    createdAt: repo.createdAt,
    private: false,
    gated: false,
    disabled: false,
    tags: [],
    downloads: 0,
    likes: 0,
    usedStorage: files.reduce((sum, f) => sum + f.sizeBytes, 0),
    siblings: files.map((f) => presentSibling(f, options.blobs)),
  };
  if (options.expand.length === 0) return info;
  // With expand, the hub answers only the listed properties, plus _id and id.
  const picked: Record<string, unknown> = { _id: info._id, id: info.id };
  for (const key of options.expand) if (Object.hasOwn(info, key)) picked[key] = info[key];
  return picked;
}

function presentSibling(file: MirrorFile, blobs: boolean): Record<string, unknown> {
  if (!blobs) return { rfilename: file.path };
  const sibling: Record<string, unknown> = { rfilename: file.path, size: file.sizeBytes };
  if (file.gitOid !== null) sibling.blobId = file.gitOid;
  // In model info the LFS hash is `sha256`; in /tree and /paths-info it is `oid`.
  if (file.lfsSha256 !== null) sibling.lfs = { sha256: file.lfsSha256, ...lfsSizes(file, file.lfsSha256) };
  return sibling;
}

/** One `/tree` or `/paths-info` entry; `expand` adds `lastCommit` (the synced commit). */
export function presentTreeEntry(
  entry: TreeEntry,
  repo: MirrorRepo,
  expand: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> =
    entry.type === 'directory'
      ? { type: 'directory', oid: entry.oid, size: 0, path: entry.path }
      : { type: 'file', oid: entry.file.gitOid, size: entry.file.sizeBytes, path: entry.path };
  if (entry.type === 'file' && entry.file.lfsSha256 !== null) {
    out.lfs = { oid: entry.file.lfsSha256, ...lfsSizes(entry.file, entry.file.lfsSha256) };
  }
  if (expand) out.lastCommit = { id: repo.commit, title: '', date: repo.syncedAt };
  return out;
}

function lfsSizes(file: MirrorFile, sha256: string): { size: number; pointerSize: number } {
  return { size: file.sizeBytes, pointerSize: Buffer.byteLength(lfsPointer(sha256, file.sizeBytes)) };
}

/** The hub's `_id` is a 24-hex database id; ours is derived from the model's UUID, so it is stable. */
function mongoStyleId(uuid: string): string {
  return uuid.replaceAll('-', '').slice(0, 24);
}
