import type { Readable } from 'node:stream';
import { listFiles, modelInfo } from '@huggingface/hub';
import { Agent, request } from 'undici';
import { UpstreamError } from '../errors.js';
import { upstreamErrorFromResponse, upstreamNetworkError } from './hub-errors.js';
import { type RetryPolicy, withRetry } from './retry.js';

/**
 * The Hugging Face client. Listing and model info go through `@huggingface/hub` (the official JS
 * client) with our own `fetch` underneath, which adds auth and user-agent, retries transient
 * failures and keeps the hub's `X-Error-Code`. File bodies are streamed with undici; redirects are
 * followed by hand so the token only ever goes to the hub's own origin, never to a CDN.
 */
export interface UpstreamFile {
  path: string;
  size: number;
  /** Git blob sha1 (of the LFS pointer for LFS files). */
  oid: string | null;
  /** LFS sha256 of the content, when the file is in LFS. */
  lfsSha256: string | null;
}

export interface UpstreamBody {
  body: Readable;
  status: number;
  /** Size of this body from Content-Length, when sent. */
  contentLength: number | undefined;
  /** X-Linked-Etag (LFS sha256) or ETag, unquoted. */
  etag: string | undefined;
  /** X-Linked-Size, when upstream redirected to a CDN. */
  linkedSize: number | undefined;
  repoCommit: string | undefined;
}

export interface HubClient {
  resolveCommit(repoId: string, revision: string): Promise<string>;
  listFiles(repoId: string, commit: string): AsyncIterable<UpstreamFile>;
  openFile(
    repoId: string,
    commit: string,
    filePath: string,
    options?: { signal?: AbortSignal },
  ): Promise<UpstreamBody>;
  close(): Promise<void>;
}

export interface HfClientOptions {
  endpoint: string;
  token: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  userAgent: string;
  onRetry?: (message: string) => void;
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;

export class HfClient implements HubClient {
  private readonly origin: string;
  private readonly agent: Agent;

  constructor(private readonly options: HfClientOptions) {
    this.origin = new URL(options.endpoint).origin;
    this.agent = new Agent({
      connections: 32,
      keepAliveTimeout: 10_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  async resolveCommit(repoId: string, revision: string): Promise<string> {
    const info = await modelInfo({
      name: repoId,
      revision,
      hubUrl: this.options.endpoint,
      additionalFields: ['sha'],
      fetch: this.apiFetch(`model info for ${repoId}@${revision}`),
    });
    const sha = (info as { sha?: unknown }).sha;
    if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) {
      throw new UpstreamError(
        'UPSTREAM_BAD_RESPONSE',
        `Upstream model info for ${repoId} has no commit sha`,
        {
          retryable: false,
        },
      );
    }
    return sha;
  }

  async *listFiles(repoId: string, commit: string): AsyncIterable<UpstreamFile> {
    const entries = listFiles({
      repo: { type: 'model', name: repoId },
      revision: commit,
      recursive: true,
      hubUrl: this.options.endpoint,
      fetch: this.apiFetch(`file list of ${repoId}@${commit.slice(0, 12)}`),
    });
    for await (const entry of entries) {
      if (entry.type !== 'file') continue;
      yield { path: entry.path, size: entry.size, oid: entry.oid ?? null, lfsSha256: entry.lfs?.oid ?? null };
    }
  }

  async openFile(
    repoId: string,
    commit: string,
    filePath: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<UpstreamBody> {
    const what = `${filePath} of ${repoId}@${commit.slice(0, 12)}`;
    let url = `${this.options.endpoint}/${repoId}/resolve/${commit}/${encodePath(filePath)}`;
    let linked: { etag?: string; size?: number; commit?: string } = {};
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await request(url, {
        method: 'GET',
        headers: { ...this.headersFor(url), 'accept-encoding': 'identity' },
        dispatcher: this.agent,
        signal: options.signal,
      }).catch((error: unknown) => {
        throw upstreamNetworkError(error, what);
      });
      const header = (name: string) => headerValue(response.headers[name]);
      if (REDIRECT_STATUS.has(response.statusCode)) {
        await response.body.dump();
        linked = {
          etag: linked.etag ?? normalizeEtag(header('x-linked-etag')),
          size: linked.size ?? toInt(header('x-linked-size')),
          commit: linked.commit ?? header('x-repo-commit'),
        };
        const location = header('location');
        if (!location) throw badResponse(`Upstream redirect without Location for ${what}`);
        url = new URL(location, url).href;
        continue;
      }
      if (response.statusCode >= 400) {
        const body = await readLimited(response.body, ERROR_BODY_LIMIT);
        throw upstreamErrorFromResponse({ status: response.statusCode, header, body, what });
      }
      return {
        body: response.body,
        status: response.statusCode,
        contentLength: toInt(header('content-length')),
        etag: linked.etag ?? normalizeEtag(header('x-linked-etag') ?? header('etag')),
        linkedSize: linked.size ?? toInt(header('x-linked-size')),
        repoCommit: linked.commit ?? header('x-repo-commit'),
      };
    }
    throw badResponse(`Too many upstream redirects for ${what}`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Auth goes to the hub's own origin only: a CDN it redirects to gets a signed URL, not our token. */
  private headersFor(url: string): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent };
    if (this.options.token && new URL(url).origin === this.origin) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    return headers;
  }

  private apiFetch(what: string): typeof fetch {
    return async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      return withRetry(
        async () => {
          const headers = new Headers(init?.headers);
          for (const [name, value] of Object.entries(this.headersFor(url))) headers.set(name, value);
          const response = await fetch(url, {
            ...init,
            headers,
            signal: AbortSignal.timeout(this.options.timeoutMs),
          }).catch((error: unknown) => {
            throw upstreamNetworkError(error, what);
          });
          if (!response.ok) {
            const body = (await response.text()).slice(0, ERROR_BODY_LIMIT);
            throw upstreamErrorFromResponse({
              status: response.status,
              header: (name) => response.headers.get(name) ?? undefined,
              body,
              what,
            });
          }
          return response;
        },
        this.options.retry,
        (error, attempt, delayMs) =>
          this.options.onRetry?.(
            `Retrying ${what} (attempt ${attempt}) in ${delayMs} ms: ${error instanceof Error ? error.message : String(error)}`,
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toInt(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
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
