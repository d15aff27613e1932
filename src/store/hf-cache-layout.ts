import fs from 'node:fs/promises';
import path from 'node:path';
import { Invalid } from '../errors.js';

/**
 * The huggingface_hub cache layout, as its clients read and write it:
 *
 *   <cache>/models--{org}--{name}/refs/<revision>        the commit hash, no trailing newline
 *   <cache>/models--{org}--{name}/blobs/<etag>           LFS sha256, or the git blob sha1 of plain files
 *   <cache>/models--{org}--{name}/snapshots/<commit>/<path>  relative symlink to ../../blobs/<etag>
 */
const MODEL_FOLDER_PREFIX = 'models--';

/** `org/name` → `models--org--name`. */
export function repoFolderName(repoId: string): string {
  return `${MODEL_FOLDER_PREFIX}${repoId.split('/').join('--')}`;
}

/** `models--org--name` → `org/name`; undefined for anything else (datasets, spaces, stray files). */
export function repoIdOfFolder(folder: string): string | undefined {
  if (!folder.startsWith(MODEL_FOLDER_PREFIX)) return undefined;
  const rest = folder.slice(MODEL_FOLDER_PREFIX.length);
  return rest.length > 0 ? rest.split('--').join('/') : undefined;
}

/** The blob name huggingface_hub gives a file: the LFS sha256, else the git blob sha1. */
export function cacheEtag(file: {
  upstreamSha256: string | null;
  upstreamOid: string | null;
}): string | null {
  return file.upstreamSha256 ?? file.upstreamOid;
}

/** `a/b/c.bin` → `../../../../blobs/<etag>`: from snapshots/<commit>/a/b/ back to the repo folder. */
export function snapshotLinkTarget(repoPath: string, etag: string): string {
  const depth = repoPath.split('/').length - 1;
  return `${'../'.repeat(2 + depth)}blobs/${etag}`;
}

export type ImportSourceKind = { kind: 'hf-cache'; repoFolders: string[] } | { kind: 'folder' };

/**
 * What an import path holds: a hub cache root (`models--*` folders inside), one `models--*` repo
 * folder, or a plain folder of files. Refuses relative paths and anything that is not a directory.
 */
export async function inspectImportSource(dir: string): Promise<ImportSourceKind> {
  if (!path.isAbsolute(dir))
    throw new Invalid('INVALID_PATH', `path must be absolute, got ${JSON.stringify(dir)}`);
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat) throw new Invalid('INVALID_PATH', `path ${dir} does not exist (on the hub's machine)`);
  if (!stat.isDirectory()) throw new Invalid('INVALID_PATH', `path ${dir} is not a directory`);
  if (repoIdOfFolder(path.basename(dir)) !== undefined && (await isDirectory(path.join(dir, 'snapshots')))) {
    return { kind: 'hf-cache', repoFolders: [dir] };
  }
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const repoFolders = entries
    .filter((e) => e.isDirectory() && e.name.startsWith(MODEL_FOLDER_PREFIX))
    .map((e) => path.join(dir, e.name))
    .sort();
  return repoFolders.length > 0 ? { kind: 'hf-cache', repoFolders } : { kind: 'folder' };
}

async function isDirectory(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
