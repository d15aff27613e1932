/**
 * Which errors mean "the queue (Redis) cannot take work right now", as opposed to a bug. Callers turn
 * them into a 503 the client may retry.
 */

/** Thrown by a queue adapter that refuses to wait for a broker that is not connected. */
export class QueueDisconnected extends Error {
  override readonly name = 'QueueDisconnected';
}

/** ioredis errors raised while the connection is down or was closed. */
const REDIS_MESSAGES = [
  /^Connection is closed/,
  /^Stream isn't writeable/,
  /^Reached the max retries per request limit/,
];

/** A short reason when `error` says the queue is unavailable; undefined for any other error. */
export function queueOutage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof QueueDisconnected) return error.message;
  if (error.name === 'MaxRetriesPerRequestError') return 'Redis did not answer';
  if (REDIS_MESSAGES.some((pattern) => pattern.test(error.message))) return 'Redis connection lost';
  return undefined;
}
