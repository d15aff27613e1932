import fs from 'node:fs/promises';
import path from 'node:path';
import { repoIdOfFolder } from '../../store/hf-cache-layout.js';
import { isWithin } from '../../store/import-roots.js';
import { assertSafeRelativePath } from '../../store/safe-path.js';

/** One file offered for import, before it is matched to an artifact. */
export interface ImportCandidate {
  repoId: string;
  /** Repo-relative, `/`-separated. */
  path: string;
  /** Where the bytes are (a symlink already resolved to its blob). */
  sourcePath: string;
  /** The snapshot it came from; null for a plain folder. */
  commit: string | null;
  /** The cache's blob name (its etag) when the entry was a symlink into blobs/. */
  etag: string | null;
  /** Set when the entry is refused before hashing (a symlink leaving the cache, an unsafe name). */
  refused?: string;
}

/**
 * Every `snapshots/<commit>/<path>` entry of one `models--org--name` folder below `root` (the
 * imported directory, resolved). Symlinks must resolve into that folder's `blobs/`, and `blobs/`
 * must itself be inside `root`; anything else is refused, never read. A `snapshots` that is a
 * symlink is not entered, so not even the names of what lies outside are listed.
 */
export async function listCacheCandidates(repoFolder: string, root: string): Promise<ImportCandidate[]> {
  const repoId = repoIdOfFolder(path.basename(repoFolder));
  if (!repoId) return [];
  const snapshotsDir = path.join(repoFolder, 'snapshots');
  if (!(await fs.lstat(snapshotsDir).catch(() => undefined))?.isDirectory()) return [];
  const realBlobs = await fs.realpath(path.join(repoFolder, 'blobs')).catch(() => undefined);
  const blobsDir = realBlobs !== undefined && isWithin(root, realBlobs) ? realBlobs : undefined;
  const commits = await fs.readdir(snapshotsDir, { withFileTypes: true }).catch(() => []);
  const candidates: ImportCandidate[] = [];
  for (const commit of commits.filter((e) => e.isDirectory()).map((e) => e.name)) {
    for (const entry of await walk(path.join(snapshotsDir, commit))) {
      const candidate: ImportCandidate = {
        repoId,
        path: entry.relativePath,
        sourcePath: entry.absolutePath,
        commit,
        etag: null,
      };
      if (entry.symlink) {
        const resolved = await fs.realpath(entry.absolutePath).catch(() => undefined);
        if (!resolved || !blobsDir || resolved === blobsDir || !isWithin(blobsDir, resolved)) {
          candidate.refused = resolved
            ? `symlink points outside the cache's blobs/ (${resolved})`
            : 'broken symlink';
        } else {
          candidate.sourcePath = resolved;
          candidate.etag = path.basename(resolved);
        }
      }
      candidates.push(withSafePath(candidate));
    }
  }
  return candidates;
}

/** Every file under a plain folder (`root`, resolved), for `repoId`; symlinks must stay inside it. */
export async function listFolderCandidates(root: string, repoId: string): Promise<ImportCandidate[]> {
  const candidates: ImportCandidate[] = [];
  for (const entry of await walk(root)) {
    const candidate: ImportCandidate = {
      repoId,
      path: entry.relativePath,
      sourcePath: entry.absolutePath,
      commit: null,
      etag: null,
    };
    if (entry.symlink) {
      const resolved = await fs.realpath(entry.absolutePath).catch(() => undefined);
      if (resolved === undefined || resolved === root || !isWithin(root, resolved)) {
        candidate.refused = resolved ? `symlink points outside ${root} (${resolved})` : 'broken symlink';
      } else {
        candidate.sourcePath = resolved;
      }
    }
    candidates.push(withSafePath(candidate));
  }
  return candidates;
}

function withSafePath(candidate: ImportCandidate): ImportCandidate {
  try {
    assertSafeRelativePath(candidate.path);
    return candidate;
  } catch (error) {
    return { ...candidate, refused: (error as Error).message };
  }
}

interface WalkEntry {
  relativePath: string;
  absolutePath: string;
  symlink: boolean;
}

/**
 * Regular files and symlinks below `dir` (directories are entered, symlinked ones are not).
 * huggingface_hub's own bookkeeping (`.cache/huggingface` of local_dir downloads) is left out.
 */
async function walk(dir: string, prefix = ''): Promise<WalkEntry[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const found: WalkEntry[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const relativePath = prefix ? `${prefix}/${entry.name}` : entry.name;
    const absolutePath = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (relativePath === '.cache') continue;
      found.push(...(await walk(absolutePath, relativePath)));
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      found.push({ relativePath, absolutePath, symlink: entry.isSymbolicLink() });
    }
  }
  return found;
}
