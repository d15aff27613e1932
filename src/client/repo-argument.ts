import { InvalidArgumentError } from 'commander';

/**
 * A repo as a user writes it on the command line: `owner/name`, or the page URL copied from the
 * browser (`https://huggingface.co/owner/name`, also with `/tree/main/...` or `/blob/...` after it).
 * The hub checks the id itself; this only takes the id out of a URL and says what is expected.
 */
export function parseRepoArgument(value: string): string {
  const trimmed = value.trim();
  if (/^https?:\/\//i.test(trimmed)) return repoIdFromUrl(trimmed);
  const parts = trimmed.split('/');
  if (parts.length !== 2 || parts.some((p) => p === '')) throw expected(value);
  return trimmed;
}

function repoIdFromUrl(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const segments = (url?.pathname ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  if (segments[0] === 'datasets' || segments[0] === 'spaces') {
    throw new InvalidArgumentError(
      `${value} is a ${segments[0] === 'datasets' ? 'dataset' : 'Space'}; Model Hub mirrors model repos (owner/name)`,
    );
  }
  const [owner, name] = segments[0] === 'models' ? segments.slice(1) : segments;
  if (!owner || !name) throw expected(value);
  return `${owner}/${name}`;
}

function expected(value: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `expected a repo id such as Wan-AI/Wan2.1-T2V-1.3B (owner/name) or its page URL, got "${value}"`,
  );
}
