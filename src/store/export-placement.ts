import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Writing outside the store, for exports: every entry is staged next to its target and renamed over
 * it, so a re-run (or a run over an older export) replaces entries atomically and leaves what is
 * already right untouched.
 */
export type Placement = 'linked' | 'copied' | 'present';

/**
 * Puts `source`'s bytes at `target`: a hard link (no byte copied), or a copy where links are
 * impossible (another file system). `present` when `target` already is that file, or, with
 * `sameNameSameContent` (content-addressed names such as cache blobs), a file of the same size.
 */
export async function placeFile(
  source: string,
  target: string,
  options: { sameNameSameContent: boolean },
): Promise<Placement> {
  const [from, existing] = await Promise.all([fs.stat(source), lstatOrUndefined(target)]);
  if (existing?.isFile()) {
    const sameFile = existing.ino === from.ino && existing.dev === from.dev;
    if (sameFile || (options.sameNameSameContent && existing.size === from.size)) return 'present';
  }
  await fs.mkdir(path.dirname(target), { recursive: true });
  const staging = stagingName(target);
  let placement: Placement = 'linked';
  try {
    try {
      await fs.link(source, staging);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw error;
      await fs.copyFile(source, staging);
      placement = 'copied';
    }
    await fs.rename(staging, target);
  } finally {
    await fs.rm(staging, { force: true });
  }
  return placement;
}

/** A symlink at `linkPath` pointing at `target` (kept as written: relative stays relative). */
export async function placeSymlink(target: string, linkPath: string): Promise<'created' | 'present'> {
  const existing = await fs.readlink(linkPath).catch(() => undefined);
  if (existing === target) return 'present';
  await fs.mkdir(path.dirname(linkPath), { recursive: true });
  const staging = stagingName(linkPath);
  await fs.symlink(target, staging);
  try {
    await fs.rename(staging, linkPath);
  } catch (error) {
    await fs.rm(staging, { force: true });
    throw error;
  }
  return 'created';
}

/** Writes exactly `content` (no trailing newline added), replacing the file atomically. */
export async function placeText(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const staging = stagingName(file);
  await fs.writeFile(staging, content);
  await fs.rename(staging, file);
}

function stagingName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

async function lstatOrUndefined(p: string) {
  return fs.lstat(p).catch(() => undefined);
}
