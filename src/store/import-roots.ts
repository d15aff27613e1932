import fs from 'node:fs/promises';
import path from 'node:path';
import { Forbidden, Invalid } from '../errors.js';

/**
 * The directories an import may read from (`IMPORT_ROOTS`). A requested path is resolved with
 * realpath (symlinks included) and accepted only if it is a resolved root or lies below one. Every
 * refusal (outside the roots, out through a symlink, not there at all) gets the same answer, so the
 * API never tells a caller which paths exist on the hub's machine.
 */
export class ImportRoots {
  constructor(private readonly roots: readonly string[]) {}

  /** The requested directory as it really is on disk, or Forbidden (disabled, or not inside a root). */
  async resolve(requested: string): Promise<string> {
    if (this.roots.length === 0) {
      throw new Forbidden(
        'IMPORT_DISABLED',
        'Import is disabled on this hub: set IMPORT_ROOTS to the directories it may import from (absolute paths separated by ":") and restart it',
      );
    }
    if (!path.isAbsolute(requested)) {
      throw new Invalid('INVALID_PATH', `path must be absolute, got ${JSON.stringify(requested)}`);
    }
    const resolved = await fs.realpath(requested).catch(() => undefined);
    const roots = await Promise.all(this.roots.map((root) => fs.realpath(root).catch(() => undefined)));
    if (resolved === undefined || !roots.some((root) => root !== undefined && isWithin(root, resolved))) {
      throw new Forbidden(
        'IMPORT_PATH_REFUSED',
        `Import path refused: only an existing directory inside the import roots can be imported (IMPORT_ROOTS: ${this.roots.join(', ')})`,
      );
    }
    return resolved;
  }
}

/** Whether `target` is `dir` or below it, by whole path segments (`/a/bc` is not below `/a/b`). */
export function isWithin(dir: string, target: string): boolean {
  if (target === dir) return true;
  return target.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}
