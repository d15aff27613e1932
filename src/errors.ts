/**
 * The error catalog shared by every layer. Layers below `http/` throw these; only `http/`
 * maps them to status codes. Messages name fields and variables, never a secret's value.
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'INVALID_REPO_ID'
  | 'INVALID_PATH'
  | 'INVALID_REVISION'
  | 'NOT_FOUND'
  | 'REPO_NOT_FOUND'
  | 'ARTIFACT_NOT_FOUND'
  | 'REVISION_NOT_FOUND'
  | 'JOB_NOT_FOUND'
  | 'JOB_NOT_CANCELLABLE'
  | 'JOB_NOT_RETRYABLE'
  | 'REPO_ALREADY_REGISTERED'
  | 'REPO_NOT_SYNCED'
  | 'UPSTREAM_REPO_NOT_FOUND'
  | 'UPSTREAM_GATED'
  | 'UPSTREAM_REVISION_NOT_FOUND'
  | 'UPSTREAM_ENTRY_NOT_FOUND'
  | 'UPSTREAM_UNAUTHORIZED'
  | 'UPSTREAM_FORBIDDEN'
  | 'UPSTREAM_RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_URL_EXPIRED'
  | 'UPSTREAM_BAD_RESPONSE'
  | 'INTEGRITY_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'INVALID_WEBHOOK_URL'
  | 'INVALID_EVENT_TYPE'
  | 'WEBHOOK_NOT_FOUND'
  | 'DELIVERY_NOT_FOUND'
  | 'DELIVERY_PENDING'
  | 'BLOB_BUSY'
  | 'BLOB_GONE'
  | 'UNAUTHORIZED'
  | 'KEY_NOT_FOUND'
  | 'FORBIDDEN'
  | 'IMPORT_DISABLED'
  | 'IMPORT_PATH_REFUSED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'SERVICE_UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'INTERNAL';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFound extends AppError {}
export class Conflict extends AppError {}
export class Invalid extends AppError {}
/** No credentials, or credentials that match no key. */
export class Unauthorized extends AppError {}
/** Credentials are valid but do not allow this action (a scope, or a configured limit such as import roots). */
export class Forbidden extends AppError {}

/** A dependency (database, queue) cannot answer right now; trying again later may help. */
export class ServiceUnavailable extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
    options?: { cause?: unknown },
  ) {
    super('SERVICE_UNAVAILABLE', message, options);
  }
}

/** Too many requests from one API key or client address; the next one is allowed after `retryAfterSeconds`. */
export class RateLimited extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('RATE_LIMITED', message);
  }
}

/** An error from the upstream hub; `retryable` says whether trying again may help. */
export class UpstreamError extends AppError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly details: {
      status?: number;
      hubErrorCode?: string;
      retryable: boolean;
      retryAfterSeconds?: number;
      /** The hub's own words (`X-Error-Message`, else the body's `error`), for messages that quote them. */
      hubMessage?: string;
      cause?: unknown;
    },
  ) {
    super(code, message, { cause: details.cause });
  }
}

/** Upstream did not answer within the time an interactive request waits for it (504). */
export class UpstreamTimeout extends UpstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UPSTREAM_UNAVAILABLE', message, { retryable: true, cause: options?.cause });
  }
}

/** Downloaded bytes do not match what upstream advertised; the content is never stored. */
export class IntegrityError extends AppError {
  constructor(
    readonly algorithm: 'sha256' | 'git-sha1' | 'size',
    readonly expected: string,
    readonly actual: string,
    path: string,
  ) {
    super(
      algorithm === 'size' ? 'SIZE_MISMATCH' : 'INTEGRITY_MISMATCH',
      `IntegrityError: ${path}: expected ${algorithm} ${expected}, got ${actual}`,
    );
  }
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof UpstreamError) return error.details.retryable;
  if (error instanceof AppError) return false;
  return isTransientNetworkError(error);
}

const transientNetworkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function isTransientNetworkError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.name === 'TimeoutError') return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && transientNetworkCodes.has(code)) return true;
    current = current.cause;
  }
  return false;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
