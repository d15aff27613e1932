/**
 * Which driver errors mean "the database cannot answer right now" (down, restarting, unreachable,
 * out of disk, locked by another process) rather than "this query is wrong". Callers turn the first
 * into a 503 the client may retry; anything else stays a bug. Both drivers: pg (PostgreSQL) and
 * better-sqlite3 (SQLite).
 */

/** Network failures while connecting to or talking with PostgreSQL. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** SQLSTATEs: 08 connection exception, 53 insufficient resources, 57P0x the server is shutting down or starting. */
const PG_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-5])$/;

/** Errors pg and its pool raise without a code when the connection is gone or cannot be had. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable/,
  /^Cannot use a pool after calling end on the pool/,
];

/** SQLite result codes (extended codes share the prefix): disk full, I/O error, locked, read-only, cannot open. */
const SQLITE_CODES: [RegExp, string][] = [
  [/^SQLITE_FULL/, 'disk full'],
  [/^SQLITE_IOERR/, 'I/O error'],
  [/^SQLITE_BUSY/, 'locked by another connection'],
  [/^SQLITE_READONLY/, 'read-only'],
  [/^SQLITE_CANTOPEN/, 'cannot open the database file'],
];

/** A short reason when `error` says the database is unavailable; undefined for any other error. */
export function databaseOutage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    for (const [pattern, reason] of SQLITE_CODES) if (pattern.test(code)) return reason;
    if (PG_SQLSTATE.test(code)) return `server error ${code}`;
    if (NETWORK_CODES.has(code)) return 'unreachable';
  }
  // Node reports a refused connection to a host with several addresses as one AggregateError.
  if (error instanceof AggregateError && error.errors.some((inner) => databaseOutage(inner) !== undefined)) {
    return 'unreachable';
  }
  if (PG_MESSAGES.some((pattern) => pattern.test(error.message))) return 'connection lost';
  return undefined;
}
