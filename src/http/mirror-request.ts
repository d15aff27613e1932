import type { FastifyRequest } from 'fastify';
import { Invalid } from '../errors.js';
import { type MirrorRepo, revisionNotFound, servesRevision } from '../services/mirror.service.js';
import { assertSafeRelativePath } from '../store/safe-path.js';

/**
 * Reading a Hugging Face API request: which repo, which revision, which path. Clients encode a
 * revision as one segment (`refs%2Fpr%2F1`) or send it raw (`refs/pr/1`), and a path with `/` or
 * `%2F` between its parts; so the URL is read segment by segment, each percent-decoded once.
 */
export interface RepoParams {
  namespace?: string;
  repo: string;
}

export function repoIdOf(params: RepoParams): string {
  return params.namespace === undefined ? params.repo : `${params.namespace}/${params.repo}`;
}

/** The decoded path segments after the first `skip` ones (the route's fixed part). */
export function pathTail(request: FastifyRequest, skip: number): string[] {
  const rawPath = request.url.split('?', 1)[0] ?? '';
  return rawPath
    .split('/')
    .slice(1 + skip)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new Invalid('INVALID_PATH', 'The URL path is not valid percent-encoding');
      }
    });
}

/** How many leading URL segments name the repo: `owner/name`, or a legacy one-part id. */
export function repoSegments(params: RepoParams): number {
  return params.namespace === undefined ? 1 : 2;
}

/**
 * Splits `{rev}[/{path}]` segments: the shortest leading run of segments that names a revision the
 * hub serves is the revision (so a raw `refs/pr/1` or `feature/x` works), the rest is the path. An
 * unknown revision is reported whole when it looks like `refs/pr/N`, as the hub does.
 */
export function splitRevision(
  repo: MirrorRepo,
  segments: readonly string[],
  wantsPath: boolean,
): { revision: string; path: string } {
  for (let k = 1; k <= segments.length - (wantsPath ? 1 : 0); k++) {
    const revision = segments.slice(0, k).join('/');
    if (servesRevision(repo, revision)) return { revision, path: segments.slice(k).join('/') };
  }
  const refLike = segments[0] === 'refs' && segments.length >= (wantsPath ? 4 : 3);
  const reported = segments.slice(0, refLike ? 3 : 1).join('/');
  throw revisionNotFound(reported, repo);
}

/** A repo-relative path from the URL or a body, through the store's one safety check. */
export function safeRepoPath(filePath: string): string {
  assertSafeRelativePath(filePath);
  return filePath;
}

/** `true`, `True`, `1` (any case) are true, as HF's clients send booleans. */
export function queryFlag(value: unknown): boolean {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return typeof last === 'string' && /^(true|1)$/i.test(last);
}

/** A repeated query parameter (`expand=a&expand=b`) as a list. */
export function queryList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

const HOST = /^[A-Za-z0-9._~-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * This hub's origin as the client reached it (protocol and `Host`), for absolute URLs that must
 * point back here, such as the `Link` of the next page.
 */
export function requestOrigin(request: FastifyRequest): string {
  const host = request.headers.host ?? '';
  if (!HOST.test(host)) throw new Invalid('VALIDATION_FAILED', 'The Host header is not a valid host name');
  return `${request.protocol}://${host}`;
}
