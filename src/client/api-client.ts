import type { FetchLike } from 'eventsource';
import type {
  ApiKeyWire,
  ArtifactWire,
  CreatedApiKeyWire,
  ImportRequest,
  JobAcceptedWire,
  JobListQuery,
  JobPage,
  JobWire,
  ModelPage,
  ModelWire,
  NewApiKeyRequest,
  RegisteredModelWire,
  RegisterRequest,
  RepoDownloadRequest,
} from './wire.js';

/** The hub answered with an error body `{"error": {"code", "message"}}` (or something unexpected). */
export class HubApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubApiError';
  }
}

/** No HTTP answer at all: nothing listening, DNS failure, timeout. */
export class HubUnreachableError extends Error {
  constructor(
    readonly hubUrl: string,
    readonly reason: string,
  ) {
    super(
      `cannot reach the model hub at ${hubUrl} (${reason}); is it running? Point --url or MODEL_HUB_URL at it`,
    );
    this.name = 'HubUnreachableError';
  }
}

export interface HubClientOptions {
  fetch?: typeof fetch;
  /** An API key (`mh_…`), sent as `Authorization: Bearer`; it wins over credentials in the URL. */
  apiKey?: string;
  /** Per request, not for event streams (default 30 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The URL for messages: credentials in it (`http://user:pass@host`) are never printed. */
export function displayUrl(url: URL): string {
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/** A typed client for the hub's JSON API; every failure is a HubApiError or a HubUnreachableError. */
export class ModelHubClient {
  readonly displayUrl: string;
  private readonly base: URL;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  /** From `http://user:password@host`: fetch refuses URLs with credentials, so they go in a header. */
  private readonly authorization: string | undefined;

  constructor(baseUrl: URL, options: HubClientOptions = {}) {
    const base = new URL(baseUrl);
    if (options.apiKey) {
      this.authorization = `Bearer ${options.apiKey}`;
      base.username = '';
      base.password = '';
    } else if (base.username || base.password) {
      const pair = `${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`;
      this.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
      base.username = '';
      base.password = '';
    }
    // A trailing slash makes relative paths resolve under a path prefix (`https://host/hub/`).
    if (!base.pathname.endsWith('/')) base.pathname = `${base.pathname}/`;
    this.base = base;
    this.displayUrl = displayUrl(baseUrl);
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** The fetch for event streams: no timeout (they stay open), the same credentials. */
  streamFetch(): FetchLike {
    return (url, init) =>
      this.fetch(url, {
        ...init,
        headers: { ...init.headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
      });
  }

  /** Absolute URL of an API path such as `/v1/hub/jobs`. */
  url(path: string, query: Record<string, string | number | undefined> = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  register(body: RegisterRequest): Promise<RegisteredModelWire> {
    return this.request('POST', '/v1/hub/register', { body });
  }

  requestSync(repoId: string): Promise<JobAcceptedWire> {
    return this.request('POST', '/v1/hub/sync', { body: { repo_id: repoId } });
  }

  requestDownload(body: RepoDownloadRequest): Promise<JobAcceptedWire> {
    return this.request('POST', '/v1/hub/download', { body });
  }

  requestImport(body: ImportRequest): Promise<JobAcceptedWire> {
    return this.request('POST', '/v1/hub/import', { body });
  }

  /** Every registered repo, following `next_cursor` on hubs that paginate. */
  async listModels(): Promise<ModelWire[]> {
    const models: ModelWire[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page: ModelPage = await this.request('GET', '/v1/hub/models', { query: { cursor } });
      models.push(...page.items);
      cursor = page.next_cursor ?? undefined;
      // A hub that hands back a cursor it already gave would otherwise loop forever.
      if (cursor !== undefined && seen.has(cursor)) break;
      if (cursor !== undefined) seen.add(cursor);
    } while (cursor !== undefined);
    return models;
  }

  async findModelByRepoId(repoId: string): Promise<ModelWire> {
    const model = (await this.listModels()).find((m) => m.repo_id === repoId);
    if (!model) throw new HubApiError(404, 'REPO_NOT_FOUND', `Repository ${repoId} is not registered`);
    return model;
  }

  async listArtifacts(modelId: string): Promise<ArtifactWire[]> {
    const page: { items: ArtifactWire[] } = await this.request(
      'GET',
      `/v1/hub/models/${encodeURIComponent(modelId)}/artifacts`,
    );
    return page.items;
  }

  listJobs(query: JobListQuery): Promise<JobPage> {
    return this.request('GET', '/v1/hub/jobs', { query: { ...query } });
  }

  getJob(jobId: string): Promise<JobWire> {
    return this.request('GET', `/v1/hub/jobs/${encodeURIComponent(jobId)}`);
  }

  cancelJob(jobId: string): Promise<JobWire> {
    return this.request('POST', `/v1/hub/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  retryJob(jobId: string): Promise<JobAcceptedWire> {
    return this.request('POST', `/v1/hub/jobs/${encodeURIComponent(jobId)}/retry`);
  }

  jobEventsUrl(jobId: string): URL {
    return this.url(`/v1/hub/jobs/${encodeURIComponent(jobId)}/events`);
  }

  createKey(body: NewApiKeyRequest): Promise<CreatedApiKeyWire> {
    return this.request('POST', '/v1/hub/keys', { body });
  }

  async listKeys(): Promise<ApiKeyWire[]> {
    const page: { items: ApiKeyWire[] } = await this.request('GET', '/v1/hub/keys');
    return page.items;
  }

  async revokeKey(idOrPrefix: string): Promise<ApiKeyWire> {
    const answer: { revoked: ApiKeyWire } = await this.request(
      'DELETE',
      `/v1/hub/keys/${encodeURIComponent(idOrPrefix)}`,
    );
    return answer.revoked;
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { body?: unknown; query?: Record<string, string | number | undefined> } = {},
  ): Promise<T> {
    const url = this.url(path, options.query);
    let status: number;
    let text: string;
    try {
      const response = await this.fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(this.authorization ? { authorization: this.authorization } : {}),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw new HubUnreachableError(this.displayUrl, describeNetworkError(error, this.timeoutMs));
    }
    const body = parseJson(text);
    if (status >= 200 && status < 300 && body !== undefined) return body as T;
    if (isErrorBody(body)) throw new HubApiError(status, body.error.code, body.error.message);
    throw new HubApiError(
      status,
      status >= 200 && status < 300 ? 'UNEXPECTED_RESPONSE' : `HTTP_${status}`,
      `${method} ${displayUrl(url)} answered HTTP ${status} without a JSON ${status < 300 ? 'body' : 'error'}; is ${this.displayUrl} a model hub?`,
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isErrorBody(body: unknown): body is { error: { code: string; message: string } } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = body.error;
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string' &&
    'message' in error &&
    typeof error.message === 'string'
  );
}

/** `ECONNREFUSED`, `ENOTFOUND`, `no answer within 30 s`: the part a user can act on. */
export function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  const cause = error instanceof Error ? error.cause : undefined;
  if (typeof cause === 'object' && cause !== null) {
    if ('code' in cause && typeof cause.code === 'string') return cause.code;
    if ('message' in cause && typeof cause.message === 'string') return cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}
