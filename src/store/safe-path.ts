import path from 'node:path';
import { Invalid } from '../errors.js';
import { quoteExcerpt } from '../excerpt.js';

/**
 * The one gate between upstream-controlled names and the file system. A repo-relative path is
 * accepted only if it is plain: relative, `/`-separated, no empty, `.` or `..` segments, no
 * backslashes, NUL or other control characters. The joined result must stay inside `root`.
 */
export function assertSafeRelativePath(relativePath: string): void {
  const reason = unsafeReason(relativePath);
  if (reason) throw new Invalid('INVALID_PATH', `Unsafe path ${quoteExcerpt(relativePath)}: ${reason}`);
}

export function safeJoin(root: string, relativePath: string): string {
  assertSafeRelativePath(relativePath);
  const resolvedRoot = path.resolve(root);
  const joined = path.resolve(resolvedRoot, ...relativePath.split('/'));
  if (!joined.startsWith(resolvedRoot + path.sep)) {
    throw new Invalid(
      'INVALID_PATH',
      `Unsafe path ${quoteExcerpt(relativePath)}: resolves outside the store`,
    );
  }
  return joined;
}

function unsafeReason(p: string): string | undefined {
  if (p.length === 0) return 'empty path';
  if (p.length > 4096) return 'path longer than 4096 characters';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'contains a NUL or control character';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'absolute path';
  for (const segment of p.split('/')) {
    if (segment === '') return 'empty path segment';
    if (segment === '.' || segment === '..') return `"${segment}" segment`;
    if (Buffer.byteLength(segment) > 255) return 'path segment longer than 255 bytes';
  }
  return undefined;
}
