import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  Conflict,
  Forbidden,
  IntegrityError,
  Invalid,
  NotFound,
  RateLimited,
  ServiceUnavailable,
  Unauthorized,
  UpstreamError,
  UpstreamTimeout,
} from '../errors.js';
import { quoteExcerpt } from '../excerpt.js';
import { asServiceUnavailable } from '../services/outage.js';

/**
 * The one place errors become HTTP answers: `{ error: { code, message, request_id } }`, never a
 * stack trace. Client mistakes are 4xx with a message naming the field; anything unexpected is a
 * logged 500 with a generic message.
 */
export function errorStatus(error: AppError): number {
  if (error instanceof NotFound) return 404;
  if (error instanceof Conflict) return 409;
  if (error instanceof Invalid) return 400;
  if (error instanceof Unauthorized) return 401;
  if (error instanceof Forbidden) return 403;
  if (error instanceof RateLimited) return 429;
  if (error instanceof ServiceUnavailable) return 503;
  if (error instanceof UpstreamTimeout) return 504;
  if (error instanceof UpstreamError || error instanceof IntegrityError) return 502;
  return 500;
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};

export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const send = (status: number, code: string, message: string) =>
    reply.status(status).send({ error: { code, message, request_id: String(request.id) } });

  // A driver error saying the database or the queue is down is the typed 503, not an unexpected 500.
  const outage = error instanceof AppError ? undefined : asServiceUnavailable(error);
  if (outage) return handleError(outage as unknown as FastifyError, request, reply);
  if (error instanceof AppError) {
    const status = errorStatus(error);
    if (error instanceof ServiceUnavailable) {
      request.log.warn({ err: error }, 'dependency unavailable');
      reply.header('retry-after', String(error.retryAfterSeconds));
    } else if (status >= 500) request.log.error({ err: error }, 'request failed');
    if (error instanceof Unauthorized) reply.header('www-authenticate', 'Bearer realm="model-hub"');
    if (error instanceof RateLimited) reply.header('retry-after', String(error.retryAfterSeconds));
    return send(status, error.code, error.message);
  }
  if (error.validation) {
    const context = error.validationContext ?? 'request';
    // With alternative body shapes, each branch's complaint is listed; the anyOf summary adds nothing.
    const problems = error.validation
      .filter((v) => v.keyword !== 'anyOf')
      .map((v) => {
        const field = `${context}${v.instancePath.replaceAll('/', '.')}`;
        const params = v.params as Record<string, unknown>;
        if (typeof params.additionalProperty === 'string')
          return `${field}: unknown field ${quoteExcerpt(params.additionalProperty)}`;
        if (typeof params.missingProperty === 'string')
          return `${field}.${params.missingProperty} is required`;
        return `${field} ${v.message ?? 'is invalid'}`;
      });
    return send(400, 'VALIDATION_FAILED', [...new Set(problems)].join('; '));
  }
  if (error instanceof SyntaxError)
    return send(400, 'MALFORMED_JSON', `Body is not valid JSON: ${error.message}`);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return send(status, FASTIFY_CODES[error.code] ?? 'BAD_REQUEST', error.message);
  }
  request.log.error({ err: error }, 'unexpected error');
  return send(500, 'INTERNAL', 'Internal server error');
}

/** Unknown routes, in the same shape; the path is quoted only in part. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.status(404).send({
    error: {
      code: 'NOT_FOUND',
      message: `Route ${request.method} ${quoteExcerpt(request.url.split('?')[0] ?? '')} not found`,
      request_id: String(request.id),
    },
  });
}
