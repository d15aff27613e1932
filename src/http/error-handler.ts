import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, Conflict, IntegrityError, Invalid, NotFound, UpstreamError } from '../errors.js';

/**
 * The one place errors become HTTP answers: `{ error: { code, message, request_id } }`, never a
 * stack trace. Client mistakes are 4xx with a message naming the field; anything unexpected is a
 * logged 500 with a generic message.
 */
export function errorStatus(error: AppError): number {
  if (error instanceof NotFound) return 404;
  if (error instanceof Conflict) return 409;
  if (error instanceof Invalid) return 400;
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

  if (error instanceof AppError) {
    const status = errorStatus(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
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
          return `${field}: unknown field "${params.additionalProperty}"`;
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
