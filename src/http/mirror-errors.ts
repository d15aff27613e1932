import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  Forbidden,
  Invalid,
  NotFound,
  ServiceUnavailable,
  Unauthorized,
  UpstreamError,
} from '../errors.js';
import { MirrorNotFound } from '../services/mirror.service.js';
import { MirrorTimeout } from '../services/mirror-pull-through.js';
import { asServiceUnavailable } from '../services/outage.js';

/**
 * Errors on the Hugging Face–compatible routes, the way the hub sends them: the status,
 * `X-Error-Code` (the code HF clients turn into their own exceptions), `X-Error-Message` and a
 * `{"error": message}` body (not the `/v1` shape).
 *
 * Access control speaks HF too. A missing or unknown key is a 401 `RepoNotFound`: HF's clients
 * read an unlabelled 401 as "repo not found" only over https, and without the code the Python
 * client would blame the connection. A key without access (or a request the hub refuses by
 * `Host`) is a 403 `GatedRepo`, which clients raise as-is with the message.
 *
 * Pull-through failures are the hub's server errors: 502 when upstream failed, 504 when it did not
 * answer in time, without `X-Error-Code` (clients then retry or fall back to their cache).
 */
export type HfErrorCode = 'RepoNotFound' | 'RevisionNotFound' | 'EntryNotFound' | 'GatedRepo';

// ASCII only: it is sent in the X-Error-Message header as it is.
const KEY_HINT =
  'Hugging Face clients send the key as their token: HF_TOKEN=mh_... (for @huggingface/hub, accessToken "hf_mh_...")';

const NOT_FOUND_CODES: Record<string, HfErrorCode> = {
  REPO_NOT_FOUND: 'RepoNotFound',
  REVISION_NOT_FOUND: 'RevisionNotFound',
  ARTIFACT_NOT_FOUND: 'EntryNotFound',
};

export function sendHfError(
  reply: FastifyReply,
  status: number,
  code: HfErrorCode | undefined,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  // Whatever a failed file answer had set (length, range) does not describe this body.
  reply.removeHeader('content-length');
  reply.removeHeader('content-range');
  reply.headers(headers);
  if (code !== undefined) reply.header('x-error-code', code);
  reply.header('x-error-message', headerSafe(message));
  return reply.status(status).type('application/json; charset=utf-8').send({ error: message });
}

export function handleMirrorError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const known = error instanceof AppError ? error : (asServiceUnavailable(error) ?? error);
  if (known instanceof MirrorNotFound && known.commit !== undefined) {
    reply.header('x-repo-commit', known.commit);
  }
  if (known instanceof NotFound) {
    return sendHfError(reply, 404, NOT_FOUND_CODES[known.code] ?? 'EntryNotFound', known.message);
  }
  if (known instanceof Unauthorized) {
    reply.header('www-authenticate', 'Bearer realm="model-hub"');
    return sendHfError(reply, 401, 'RepoNotFound', `${known.message}. ${KEY_HINT}`);
  }
  if (known instanceof Forbidden) return sendHfError(reply, 403, 'GatedRepo', known.message);
  if (known instanceof Invalid) return sendHfError(reply, 400, undefined, known.message);
  if (known instanceof MirrorTimeout) return sendHfError(reply, 504, undefined, known.message);
  if (known instanceof UpstreamError) {
    request.log.warn({ err: known }, 'pull-through: upstream failed');
    return sendHfError(reply, 502, undefined, known.message);
  }
  if (known instanceof ServiceUnavailable) {
    request.log.warn({ err: known }, 'dependency unavailable');
    reply.header('retry-after', String(known.retryAfterSeconds));
    return sendHfError(reply, 503, undefined, known.message);
  }
  if (!(known instanceof AppError)) {
    const status = (known as FastifyError).statusCode ?? 500;
    // Fastify's own refusals (a body too large, an unsupported media type, a malformed body).
    if (status >= 400 && status < 500) return sendHfError(reply, status, undefined, known.message);
  }
  request.log.error({ err: error }, 'unexpected error');
  return sendHfError(reply, 500, undefined, 'Internal server error');
}

/** Header values must be printable ASCII; messages may quote a client's path or revision. */
function headerSafe(message: string): string {
  return message.replace(/[^\x20-\x7e]/gu, (c) =>
    [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}
