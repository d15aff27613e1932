import { type ErrorCode, isTransientNetworkError, UpstreamError } from '../errors.js';

/**
 * Turns an upstream error response into an UpstreamError. The hub's `X-Error-Code` decides first
 * (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound), then the status. Pure: unit-tested.
 */
export interface ErrorResponse {
  status: number;
  header: (name: string) => string | undefined;
  body: string;
  /** What was being fetched, e.g. `model info for org/name`. */
  what: string;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function upstreamErrorFromResponse(response: ErrorResponse): UpstreamError {
  const { status, header, what } = response;
  const hubCode = header('x-error-code');
  const hubMessage = header('x-error-message') ?? bodyMessage(response.body);
  const detail = hubMessage ? `: ${hubMessage}` : '';
  const tag = `HTTP ${status}${hubCode ? `, ${hubCode}` : ''}`;
  const make = (code: ErrorCode, text: string, retryable = false, retryAfterSeconds?: number) =>
    new UpstreamError(code, `${text} (${tag})${detail}`, {
      status,
      ...(hubCode ? { hubErrorCode: hubCode } : {}),
      ...(hubMessage ? { hubMessage } : {}),
      retryable,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    });

  switch (hubCode) {
    case 'RepoNotFound':
      return make(
        'UPSTREAM_REPO_NOT_FOUND',
        `Upstream repository not found or not accessible while fetching ${what}`,
      );
    case 'GatedRepo':
      return make(
        'UPSTREAM_GATED',
        `Upstream repository is gated while fetching ${what}; set HF_TOKEN to a token that was granted access`,
      );
    case 'RevisionNotFound':
      return make('UPSTREAM_REVISION_NOT_FOUND', `Upstream revision not found while fetching ${what}`);
    case 'EntryNotFound':
      return make('UPSTREAM_ENTRY_NOT_FOUND', `Upstream file not found while fetching ${what}`);
  }
  if (status === 401) {
    return hubMessage === 'Invalid credentials in Authorization header'
      ? make('UPSTREAM_UNAUTHORIZED', `Upstream rejected HF_TOKEN while fetching ${what}`)
      : make('UPSTREAM_UNAUTHORIZED', `Upstream requires authentication for ${what}; set HF_TOKEN`);
  }
  if (status === 403) return make('UPSTREAM_FORBIDDEN', `Upstream refused access to ${what}`);
  if (status === 404) return make('UPSTREAM_ENTRY_NOT_FOUND', `Upstream has no ${what}`);
  if (status === 429) {
    return make(
      'UPSTREAM_RATE_LIMITED',
      `Upstream rate limit hit while fetching ${what}`,
      true,
      retryAfter(header),
    );
  }
  if (RETRYABLE_STATUS.has(status)) {
    return make('UPSTREAM_UNAVAILABLE', `Upstream failed while fetching ${what}`, true, retryAfter(header));
  }
  return make('UPSTREAM_BAD_RESPONSE', `Unexpected upstream answer while fetching ${what}`);
}

/** Seconds to wait: `RateLimit: "…";r=0;t=<s>` (reset time + 1 s) first, then an integer `Retry-After`. */
export function retryAfter(header: (name: string) => string | undefined): number | undefined {
  const rateLimit = header('ratelimit');
  if (rateLimit) {
    const remaining = /(?:^|;)\s*r=(\d+)/.exec(rateLimit)?.[1];
    const reset = /(?:^|;)\s*t=(\d+)/.exec(rateLimit)?.[1];
    if (remaining === '0' && reset !== undefined) return Number(reset) + 1;
  }
  const value = header('retry-after');
  if (value && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

function bodyMessage(body: string): string | undefined {
  const text = body.trim();
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    const message = parsed.error ?? parsed.message;
    if (typeof message === 'string') return message.slice(0, 500);
    if (Array.isArray(message)) return message.join('; ').slice(0, 500);
  } catch {
    // not JSON: fall through to the raw text
  }
  return /^\s*</.test(text) ? undefined : text.slice(0, 500);
}

/** A request that got no HTTP answer at all: transient network failures may be retried. */
export function upstreamNetworkError(error: unknown, what: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const retryable = isTransientNetworkError(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const reason = `${cause instanceof Error ? cause.message : String(cause)}${typeof code === 'string' && !String(cause).includes(code) ? ` (${code})` : ''}`;
  return new UpstreamError(
    'UPSTREAM_UNAVAILABLE',
    `Could not reach upstream while fetching ${what}: ${reason}`,
    {
      retryable,
      cause: error,
    },
  );
}
