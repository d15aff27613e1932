import fs from 'node:fs/promises';
import path from 'node:path';
import { repoIdOfFolder } from '../../store/hf-cache-layout.js';
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
 * Every `snapshots/<commit>/<path>` entry of one `models--org--name` folder. Symlinks must resolve
 * into that folder's `blobs/`; anything else is refused, never read.
 */
export async function listCacheCandidates(repoFolder: string): Promise<ImportCandidate[]> {
  const repoId = repoIdOfFolder(path.basename(repoFolder));
  if (!repoId) return [];
  const snapshotsDir = path.join(repoFolder, 'snapshots');
  const blobsDir = await fs.realpath(path.join(repoFolder, 'blobs')).catch(() => undefined);
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
        if (!resolved || !blobsDir || !resolved.startsWith(blobsDir + path.sep)) {
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

/** Every file under a plain folder, for `repoId`; symlinks must stay inside the folder. */
export async function listFolderCandidates(dir: string, repoId: string): Promise<ImportCandidate[]> {
  const root = await fs.realpath(dir);
  const candidates: ImportCandidate[] = [];
  for (const entry of await walk(dir)) {
    const candidate: ImportCandidate = {
      repoId,
      path: entry.relativePath,
      sourcePath: entry.absolutePath,
      commit: null,
      etag: null,
    };
    if (entry.symlink) {
      const resolved = await fs.realpath(entry.absolutePath).catch(() => undefined);
      if (!resolved?.startsWith(root + path.sep)) {
        candidate.refused = resolved ? `symlink points outside ${dir} (${resolved})` : 'broken symlink';
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
