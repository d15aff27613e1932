import { databaseOutage } from '../db/outage.js';
import { withRetry } from '../upstream/retry.js';

/** 250 ms, doubling to the shared backoff's cap of 2 s, with jitter: a restarted database is seen within ~2 s. */
const OUTAGE_BACKOFF = { maxRetries: Number.POSITIVE_INFINITY, baseDelayMs: 250 };

export interface OutageRetryOptions {
  /** Stops retrying this long after the first attempt; the last error is thrown (ms). */
  giveUpAfterMs: number;
  /** Told of every retry, with the classifier's short reason (e.g. "unreachable"). */
  onRetry?: (reason: string, attempt: number, delayMs: number) => void;
  /** Checked before each retry: false stops at once (the process is shutting down). */
  keepTrying?: () => boolean;
}

/**
 * Runs a write that must outlive a database outage: retried with capped exponential backoff while
 * the database is unavailable (per `databaseOutage`), for at most `giveUpAfterMs`. Any other error
 * is thrown at once: a wrong query does not get better by waiting.
 */
export function retryWhileDatabaseDown<T>(
  operation: () => Promise<T>,
  options: OutageRetryOptions,
): Promise<T> {
  const giveUpAt = Date.now() + options.giveUpAfterMs;
  return withRetry(
    () => operation(),
    OUTAGE_BACKOFF,
    (error, attempt, delayMs) => options.onRetry?.(databaseOutage(error) ?? 'unavailable', attempt, delayMs),
    (error) =>
      databaseOutage(error) !== undefined && Date.now() < giveUpAt && (options.keepTrying?.() ?? true),
  );
}
