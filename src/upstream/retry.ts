import { isRetryable, UpstreamError } from '../errors.js';

export interface RetryPolicy {
  /** Attempts after the first one. */
  maxRetries: number;
  /** First delay; doubles each attempt up to 8× (ms). */
  baseDelayMs: number;
  /** Upper bound for a server-requested wait (ms). */
  maxWaitMs?: number;
}

/** Exponential backoff (1, 2, 4, 8, 8 × base) with jitter in [50 %, 100 %]; a server's Retry-After wins. */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const maxWaitMs = policy.maxWaitMs ?? 300_000;
  if (retryAfterSeconds !== undefined) return Math.min(retryAfterSeconds * 1000, maxWaitMs);
  const exponential = policy.baseDelayMs * 2 ** Math.min(attempt, 3);
  return Math.round(exponential * (0.5 + random() * 0.5));
}

/** Runs `operation` until it succeeds, backing off between attempts while `retryIf` says the error may pass. */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
  retryIf: (error: unknown) => boolean = isRetryable,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxRetries || !retryIf(error)) throw error;
      const retryAfterSeconds = error instanceof UpstreamError ? error.details.retryAfterSeconds : undefined;
      const delayMs = backoffDelayMs(attempt, policy, retryAfterSeconds);
      onRetry?.(error, attempt + 1, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** One retry of an upstream request, as a job's log and its `job.progress` event tell it. */
export interface UpstreamRetry {
  /** `upstream unreachable (ECONNREFUSED), retry 2/5 in 4 s (model info for org/name@main)`. */
  message: string;
  /** 1 for the first retry. */
  attempt: number;
  maxRetries: number;
  delayMs: number;
}

const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const LOST_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * The words of a retry: why (an HTTP status with its Retry-After, or the network error's code),
 * which retry of how many, how long until it, and `what` was being fetched. `what` names a repo,
 * a file or a host, never a URL: a signed query string must not reach a log line or an event.
 */
export function describeUpstreamRetry(
  error: unknown,
  retry: { attempt: number; maxRetries: number; delayMs: number; what?: string },
): UpstreamRetry {
  const what = retry.what ? ` (${retry.what})` : '';
  const message = `${retryReason(error)}, retry ${retry.attempt}/${retry.maxRetries} in ${formatDelay(retry.delayMs)}${what}`;
  return { message, attempt: retry.attempt, maxRetries: retry.maxRetries, delayMs: retry.delayMs };
}

function retryReason(error: unknown): string {
  if (error instanceof UpstreamError && error.details.status !== undefined) {
    const { status, retryAfterSeconds } = error.details;
    if (error.code === 'UPSTREAM_URL_EXPIRED') return `signed download URL refused (HTTP ${status})`;
    const wait = retryAfterSeconds === undefined ? '' : `Retry-After ${retryAfterSeconds} s`;
    if (status === 429) return `upstream answered 429 (rate limited${wait ? `, ${wait}` : ''})`;
    return `upstream answered ${status}${wait ? ` (${wait})` : ''}`;
  }
  // An UpstreamError's own code is ours (UPSTREAM_UNAVAILABLE); the socket's is in its causes.
  let current: unknown = error instanceof UpstreamError ? error.cause : error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.name === 'TimeoutError') return 'upstream timed out';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) {
      if (TIMEOUT_CODES.has(code)) return `upstream timed out (${code})`;
      if (LOST_CODES.has(code)) return `upstream connection lost (${code})`;
      return `upstream unreachable (${code})`;
    }
    current = current.cause;
  }
  const text = error instanceof Error ? error.message : String(error);
  return `upstream failed: ${text.length > 200 ? `${text.slice(0, 199)}…` : text}`;
}

/** `250 ms`, `1.5 s`, `4 s`, `30 s`. */
export function formatDelay(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return `${seconds < 10 ? Number(seconds.toFixed(1)) : Math.round(seconds)} s`;
}
