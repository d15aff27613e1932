import { databaseOutage } from '../db/outage.js';
import { ServiceUnavailable } from '../errors.js';
import { queueOutage } from '../queue/outage.js';

/** Clients are asked to wait this long before retrying a request a dependency outage refused. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/**
 * The one conversion of a dependency's driver error into the typed `ServiceUnavailable` (503 with
 * Retry-After); undefined when the error is not an outage. The driver's own message stays in the
 * cause (and the log), not in what the client is told.
 */
export function asServiceUnavailable(error: unknown): ServiceUnavailable | undefined {
  const database = databaseOutage(error);
  if (database !== undefined) {
    return new ServiceUnavailable(
      `The database is unavailable (${database}); try again later`,
      OUTAGE_RETRY_AFTER_SECONDS,
      { cause: error },
    );
  }
  const queue = queueOutage(error);
  if (queue !== undefined) {
    return new ServiceUnavailable(
      `The job queue is unavailable (${queue}); try again later`,
      OUTAGE_RETRY_AFTER_SECONDS,
      { cause: error },
    );
  }
  return undefined;
}
