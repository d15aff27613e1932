import { Invalid } from '../errors.js';
import { quoteExcerpt } from '../excerpt.js';

/**
 * What a client may name as a revision: a 40-hex commit, or a branch/tag name following git's
 * ref-name rules (`git check-ref-format`), since it ends up in upstream URLs and, on export, as a
 * file under `refs/`.
 */
export const REVISION_MAX_BYTES = 255;

const COMMIT = /^[0-9a-f]{40}$/;

/** Whether `revision` names a commit (40 lowercase hex digits) rather than a branch or tag. */
export function isCommitId(revision: string): boolean {
  return COMMIT.test(revision);
}
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const FORBIDDEN_CHAR = /[\u0000-\u0020\u007f~^:?*[\\]/;

export function revisionProblem(revision: string): string | undefined {
  if (revision.length === 0) return 'is empty';
  // In bytes: on export the revision becomes a file name under refs/.
  if (Buffer.byteLength(revision) > REVISION_MAX_BYTES) return `is longer than ${REVISION_MAX_BYTES} bytes`;
  if (COMMIT.test(revision)) return undefined;
  if (FORBIDDEN_CHAR.test(revision)) {
    return 'must not contain control characters, spaces or any of ~ ^ : ? * [ \\';
  }
  if (revision.includes('..')) return 'must not contain ".."';
  if (revision.includes('@{')) return 'must not contain "@{"';
  if (revision === '@') return 'must not be "@"';
  if (revision.startsWith('-')) return 'must not start with "-"';
  if (revision.startsWith('/') || revision.endsWith('/')) return 'must not start or end with "/"';
  if (revision.endsWith('.')) return 'must not end with "."';
  for (const component of revision.split('/')) {
    if (component === '') return 'must not contain an empty component ("//")';
    if (component.startsWith('.')) return 'must not have a component starting with "."';
    if (component.endsWith('.lock')) return 'must not have a component ending with ".lock"';
  }
  return undefined;
}

export function assertRevision(field: string, revision: string): void {
  const problem = revisionProblem(revision);
  if (problem) {
    throw new Invalid(
      'INVALID_REVISION',
      `${field} ${quoteExcerpt(revision)} ${problem}; use a branch or tag name, or a 40-hex commit`,
    );
  }
}
