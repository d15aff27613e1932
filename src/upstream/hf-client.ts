import type { Readable } from 'node:stream';
import { Agent, fetch, Headers, type RequestInit, type Response, request } from 'undici';
import { UpstreamError } from '../errors.js';
import { upstreamErrorFromResponse, upstreamNetworkError } from './hub-errors.js';
import { describeUpstreamRetry, type RetryPolicy, type UpstreamRetry, withRetry } from './retry.js';
import { LocalPause, type UpstreamPause } from './upstream-pause.js';

/**
 * The Hugging Face client. Model info and the paginated tree listing are asked for as the official
 * JS client asks (`/revision/{rev}?expand=…`, `/tree/{commit}?recursive=true&expand=false`, the
 * `Link: <…>; rel="next"` pages) through one `fetch` that adds auth and user-agent, retries transient
 * failures and keeps the hub's `X-Error-Code`. (That client itself allocates 5 MiB and loads its
 * WebAssembly at import, for transfers this hub does not use.) File bodies are streamed with
 * undici; redirects are followed by hand so the token only ever goes to the hub's own origin, never
 * to a CDN.
 */
export interface UpstreamFile {
  path: string;
  size: number;
  /** Git blob sha1 (of the LFS pointer for LFS files). */
  oid: string | null;
  /** LFS sha256 of the content, when the file is in LFS. */
  lfsSha256: string | null;
}

/** Where a file's bytes are and what upstream says about them, read before any byte is fetched. */
export interface FileLocation {
  /** URL that serves the bytes: the CDN's signed URL for LFS files, the hub's own for small files. */
  url: string;
  /** X-Linked-Size, or Content-Length of a non-redirect answer. */
  size: number | undefined;
  /** X-Linked-Etag (LFS sha256) or ETag (git blob sha1), unquoted. */
  etag: string | undefined;
  repoCommit: string | undefined;
}

export interface RangeRequest {
  /** First byte wanted (0 when omitted). */
  start?: number;
  /** Last byte wanted, inclusive (to the end when omitted). */
  end?: number;
  /** Validator for `If-Range`: a changed resource answers 200 with the whole body instead of 206. */
  ifRange?: string;
  signal?: AbortSignal;
}

export interface UpstreamBody {
  body: Readable;
  /** 200 (whole body) or 206 (the range asked for). */
  status: 200 | 206;
  /** First byte of this body within the file. */
  start: number;
  /** Total file size from Content-Range, or Content-Length of a 200. */
  totalSize: number | undefined;
  /** This response's own ETag, quoted as sent: the validator to send back in `If-Range`. */
  etag: string | undefined;
}

export interface HubClient {
  resolveCommit(repoId: string, revision: string): Promise<string>;
  /**
   * Whether `repoId` can be mirrored at `revision` with HF_TOKEN: model info names the commit, and for a
   * gated repo (whose metadata is public) `auth-check` says whether its files may be read. Refusals
   * throw the hub's UpstreamError; `limits` bound it for an interactive caller.
   */
  checkRepo(repoId: string, revision: string, limits?: CallLimits): Promise<RepoCheck>;
  listFiles(repoId: string, commit: string): AsyncIterable<UpstreamFile>;
  /** Resolves a file to the URL that serves its bytes (HEAD, following hub-internal redirects). */
  locateFile(repoId: string, commit: string, filePath: string): Promise<FileLocation>;
  /**
   * The hub's `/resolve/` URL of a file, for `openUrl` to GET without a HEAD first (it follows the
   * redirects itself): for a file whose size and hash the listing already gave.
   */
  fileUrl(repoId: string, commit: string, filePath: string): string;
  /** GETs (part of) a located file; a signed URL that expired answers UPSTREAM_URL_EXPIRED. */
  openUrl(url: string, range?: RangeRequest): Promise<UpstreamBody>;
  close(): Promise<void>;
}

export interface RepoCheck {
  /** The commit `revision` names now. */
  commit: string;
  gated: boolean;
}

/** Tighter bounds than the client's own, for one call that someone is waiting on. */
export interface CallLimits {
  /** Per attempt (ms). */
  timeoutMs: number;
  retry: RetryPolicy;
}

export interface HfClientOptions {
  endpoint: string;
  token: string | undefined;
  timeoutMs: number;
  /** A response body silent for this long fails with a retryable timeout (ms). */
  stallTimeoutMs: number;
  retry: RetryPolicy;
  userAgent: string;
  /**
   * Before each retry of an API request, with its words (see retry.ts); `error` is the failure, for
   * the server log. The composition root also hands it to the job the request is made for.
   */
  onRetry?: (retry: UpstreamRetry, error: unknown) => void;
  /** Every upstream answer (API, HEAD, GET, CDN), redirects included: its status and `X-Error-Code`. */
  onResponse?: (status: number, hubErrorCode: string | undefined) => void;
  /** The deployment's shared rate-limit budget; every request waits for it. */
  pause?: UpstreamPause;
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;
const JSON_ACCEPT = { headers: { accept: 'application/json' } };

/** One entry of a `/tree` page (directories have no size, files may have `lfs`). */
interface TreeEntry {
  type: 'file' | 'directory';
  path: string;
  size: number;
  oid?: string;
  lfs?: { oid: string };
}

export class HfClient implements HubClient {
  private readonly origin: string;
  private readonly agent: Agent;
  private readonly pause: UpstreamPause;

  constructor(private readonly options: HfClientOptions) {
    this.origin = new URL(options.endpoint).origin;
    this.pause = options.pause ?? new LocalPause();
    this.agent = new Agent({
      connections: 64,
      keepAliveTimeout: 10_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.stallTimeoutMs,
    });
  }

  async resolveCommit(repoId: string, revision: string): Promise<string> {
    return (await this.modelInfo(repoId, revision)).commit;
  }

  async checkRepo(repoId: string, revision: string, limits?: CallLimits): Promise<RepoCheck> {
    const found = await this.modelInfo(repoId, revision, limits);
    if (found.gated) {
      const url = `${this.options.endpoint}/api/models/${repoId}/auth-check`;
      const response = await this.apiFetch(`access to the files of ${repoId}`, limits)(url);
      await response.body?.cancel();
    }
    return found;
  }

  private async modelInfo(repoId: string, revision: string, limits?: CallLimits): Promise<RepoCheck> {
    const what = `model info for ${repoId}@${revision}`;
    const url = `${this.options.endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}?expand=sha&expand=gated`;
    const info = (await readJson(await this.apiFetch(what, limits)(url, JSON_ACCEPT), what)) as {
      sha?: unknown;
      gated?: unknown;
    } | null;
    const sha = info?.sha;
    if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) {
      throw badResponse(`Upstream model info for ${repoId} has no commit sha`);
    }
    const gated = info?.gated;
    return { commit: sha, gated: gated !== undefined && gated !== false };
  }

  async *listFiles(repoId: string, commit: string): AsyncIterable<UpstreamFile> {
    const what = `file list of ${repoId}@${commit.slice(0, 12)}`;
    const fetchPage = this.apiFetch(what);
    let url: string | undefined =
      `${this.options.endpoint}/api/models/${repoId}/tree/${commit}?recursive=true&expand=false`;
    while (url) {
      const response = await fetchPage(url, JSON_ACCEPT);
      const page = await readJson(response, what);
      if (!Array.isArray(page)) throw badResponse(`Upstream ${what} is not a list`);
      for (const entry of page as TreeEntry[]) {
        if (entry?.type !== 'file') continue;
        yield {
          path: entry.path,
          size: entry.size,
          oid: entry.oid ?? null,
          lfsSha256: entry.lfs?.oid ?? null,
        };
      }
      url = nextPageUrl(response.headers.get('link'));
    }
  }

  fileUrl(repoId: string, commit: string, filePath: string): string {
    return `${this.options.endpoint}/${repoId}/resolve/${commit}/${encodePath(filePath)}`;
  }

  async locateFile(repoId: string, commit: string, filePath: string): Promise<FileLocation> {
    const what = `${filePath} of ${repoId}@${commit.slice(0, 12)}`;
    let url = this.fileUrl(repoId, commit, filePath);
    const meta: { etag?: string; size?: number; commit?: string } = {};
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      await this.pause.waitForTurn();
      const response = await request(url, {
        method: 'HEAD',
        headers: { ...this.headersFor(url), 'accept-encoding': 'identity' },
        dispatcher: this.agent,
      }).catch((error: unknown) => {
        throw upstreamNetworkError(error, what);
      });
      await response.body.dump();
      const header = (name: string) => headerValue(response.headers[name]);
      this.options.onResponse?.(response.statusCode, header('x-error-code'));
      meta.etag ??= normalizeEtag(header('x-linked-etag'));
      meta.size ??= toInt(header('x-linked-size'));
      meta.commit ??= header('x-repo-commit');
      if (REDIRECT_STATUS.has(response.statusCode)) {
        const location = header('location');
        if (!location) throw badResponse(`Upstream redirect without Location for ${what}`);
        const next = new URL(location, url);
        // A redirect off the hub (the CDN) is where the bytes are; its signed URL is fetched, not probed.
        if (next.origin !== this.origin)
          return { url: next.href, size: meta.size, etag: meta.etag, repoCommit: meta.commit };
        url = next.href;
        continue;
      }
      if (response.statusCode >= 400) {
        throw await this.refused(
          upstreamErrorFromResponse({ status: response.statusCode, header, body: '', what }),
        );
      }
      return {
        url,
        size: meta.size ?? toInt(header('content-length')),
        etag: meta.etag ?? normalizeEtag(header('etag')),
        repoCommit: meta.commit,
      };
    }
    throw badResponse(`Too many upstream redirects for ${what}`);
  }

  async openUrl(startUrl: string, range: RangeRequest = {}): Promise<UpstreamBody> {
    const start = range.start ?? 0;
    let url = startUrl;
    const what = `bytes ${start}-${range.end ?? ''} of ${describeUrl(startUrl)}`;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { ...this.headersFor(url), 'accept-encoding': 'identity' };
      if (start > 0 || range.end !== undefined) headers.range = `bytes=${start}-${range.end ?? ''}`;
      if (range.ifRange && headers.range) headers['if-range'] = range.ifRange;
      await this.pause.waitForTurn();
      const response = await request(url, {
        method: 'GET',
        headers,
        dispatcher: this.agent,
        signal: range.signal,
      }).catch((error: unknown) => {
        throw upstreamNetworkError(error, what);
      });
      const header = (name: string) => headerValue(response.headers[name]);
      this.options.onResponse?.(response.statusCode, header('x-error-code'));
      if (REDIRECT_STATUS.has(response.statusCode)) {
        await response.body.dump();
        const location = header('location');
        if (!location) throw badResponse(`Upstream redirect without Location for ${what}`);
        url = new URL(location, url).href;
        continue;
      }
      if (response.statusCode >= 400) {
        const body = await readLimited(response.body, ERROR_BODY_LIMIT);
        const offHub = new URL(url).origin !== this.origin;
        if (offHub && (response.statusCode === 403 || response.statusCode === 410)) {
          throw new UpstreamError(
            'UPSTREAM_URL_EXPIRED',
            `Signed download URL was refused (HTTP ${response.statusCode}) for ${what}`,
            {
              status: response.statusCode,
              retryable: true,
            },
          );
        }
        throw await this.refused(
          upstreamErrorFromResponse({ status: response.statusCode, header, body, what }),
        );
      }
      if (response.statusCode === 206) {
        const contentRange = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header('content-range') ?? '');
        if (!contentRange || Number(contentRange[1]) !== start) {
          response.body.destroy();
          throw badResponse(
            `Upstream answered ${what} with Content-Range ${header('content-range') ?? 'missing'}`,
          );
        }
        const total = contentRange[3] === '*' ? undefined : Number(contentRange[3]);
        return { body: response.body, status: 206, start, totalSize: total, etag: header('etag') };
      }
      if (response.statusCode === 200) {
        return {
          body: response.body,
          status: 200,
          start: 0,
          totalSize: toInt(header('content-length')),
          etag: header('etag'),
        };
      }
      response.body.destroy();
      throw badResponse(`Upstream answered HTTP ${response.statusCode} for ${what}`);
    }
    throw badResponse(`Too many upstream redirects for ${what}`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** A rate-limit answer pauses every request of the deployment for as long as the hub asked. */
  private async refused(error: UpstreamError): Promise<UpstreamError> {
    const waitSeconds = error.details.retryAfterSeconds;
    if (error.code === 'UPSTREAM_RATE_LIMITED' && waitSeconds !== undefined) {
      await this.pause.pauseUntil(Date.now() + waitSeconds * 1000);
    }
    return error;
  }

  /** Auth goes to the hub's own origin only: a CDN it redirects to gets a signed URL, not our token. */
  private headersFor(url: string): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    if (this.options.token && new URL(url).origin === this.origin) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    return headers;
  }

  private apiFetch(
    what: string,
    limits?: CallLimits,
  ): (url: string, init?: RequestInit) => Promise<Response> {
    const retry = limits?.retry ?? this.options.retry;
    return async (url, init) => {
      return withRetry(
        async () => {
          const headers = new Headers(init?.headers);
          for (const [name, value] of Object.entries(this.headersFor(url))) headers.set(name, value);
          await this.pause.waitForTurn();
          // undici's own fetch over this agent: Node's built-in fetch would load a second copy of undici.
          const response = await fetch(url, {
            ...init,
            headers,
            dispatcher: this.agent,
            signal: AbortSignal.timeout(limits?.timeoutMs ?? this.options.timeoutMs),
          }).catch((error: unknown) => {
            throw upstreamNetworkError(error, what);
          });
          this.options.onResponse?.(response.status, response.headers.get('x-error-code') ?? undefined);
          if (!response.ok) {
            const body = (await response.text()).slice(0, ERROR_BODY_LIMIT);
            throw await this.refused(
              upstreamErrorFromResponse({
                status: response.status,
                header: (name) => response.headers.get(name) ?? undefined,
                body,
                what,
              }),
            );
          }
          return response;
        },
        retry,
        (error, attempt, delayMs) =>
          this.options.onRetry?.(
            describeUpstreamRetry(error, { attempt, maxRetries: retry.maxRetries, delayMs, what }),
            error,
          ),
      );
    };
  }
}

export function encodePath(filePath: string): string {
  return filePath.split('/').map(encodeURIComponent).join('/');
}

export function normalizeEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** Host and path only: signed query strings never reach a message or a log. */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toInt(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The `rel="next"` page of a `Link` header (absolute; a token goes only to the hub's origin). */
function nextPageUrl(link: string | null): string | undefined {
  return link ? /<(https?:[^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
}

async function readJson(response: Response, what: string): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    throw badResponse(`Upstream ${what} is not JSON`);
  }
}

function badResponse(message: string): UpstreamError {
  return new UpstreamError('UPSTREAM_BAD_RESPONSE', message, { retryable: false });
}

async function readLimited(body: Readable, limit: number): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += String(chunk);
    if (text.length >= limit) {
      body.destroy();
      break;
    }
  }
  return text.slice(0, limit);
}
