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
