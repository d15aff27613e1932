import { Invalid } from '../errors.js';
import { quoteExcerpt } from '../excerpt.js';

/**
 * Hub naming rules for `owner/name`: each part 1–96 characters of letters, digits, `-`, `_`, `.`;
 * no `--` or `..`; `-` and `.` neither start nor end a part.
 */
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;

export function repoIdProblem(repoId: string): string | undefined {
  const parts = repoId.split('/');
  if (parts.length !== 2) return 'must be exactly "owner/name" (one slash)';
  for (const part of parts) {
    const problem = namePartProblem(part);
    if (problem) return problem;
  }
  return undefined;
}

export function namePartProblem(part: string): string | undefined {
  if (part.length === 0) return 'has an empty part';
  if (part.length > 96) return 'has a part longer than 96 characters';
  if (part.includes('..') || part.includes('--')) return 'must not contain ".." or "--"';
  if (!PART.test(part)) {
    return 'may only use letters, digits, "-", "_" and ".", and must not start or end with "-" or "."';
  }
  return undefined;
}

export function assertRepoId(field: string, repoId: string): void {
  const problem = repoIdProblem(repoId);
  if (problem) throw new Invalid('INVALID_REPO_ID', `${field} ${quoteExcerpt(repoId)} ${problem}`);
}

export function assertNamePart(field: string, value: string): void {
  const problem = namePartProblem(value);
  if (problem) throw new Invalid('VALIDATION_FAILED', `${field} ${quoteExcerpt(value)} ${problem}`);
}
