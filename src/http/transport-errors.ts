import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The errors Fastify and Node answer before a route runs (a malformed or oversized URL, headers
 * too large, a request Node cannot parse), in the API's one error shape
 * `{ error: { code, message, request_id } }`. None of them quotes the request back.
 */

/** Longer URLs are refused with 414 before routing (Node's own limit, 16 KiB of headers, is higher). */
export const MAX_URL_LENGTH = 8192;

function errorBody(code: string, message: string, requestId: string) {
  return { error: { code, message, request_id: requestId } };
}

/** Fastify's `frameworkErrors`: a URL whose percent-encoding does not decode, or a too long path parameter. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const requestId = String(request.id);
  reply.header('x-request-id', requestId);
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply
      .status(414)
      .send(errorBody('URI_TOO_LONG', 'A path parameter of the URL is too long', requestId));
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    void reply
      .status(400)
      .send(errorBody('BAD_URL', 'The URL path is not valid percent-encoding', requestId));
    return;
  }
  request.log.error({ err: error }, 'unexpected framework error');
  void reply.status(500).send(errorBody('INTERNAL', 'Internal server error', requestId));
}

/** `onRequest`: a URL longer than MAX_URL_LENGTH is a 414, whichever route it would reach. */
export async function refuseLongUrls(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.url.length <= MAX_URL_LENGTH) return;
  await reply
    .status(414)
    .send(
      errorBody(
        'URI_TOO_LONG',
        `The URL is longer than ${MAX_URL_LENGTH} characters (${request.url.length})`,
        String(request.id),
      ),
    );
}

/** How long a refused connection may stay half-open so the client can read the answer. */
const LINGER_MS = 1000;

/**
 * Fastify's `clientErrorHandler`: Node could not parse the request, so there is no request object
 * and no route. Answers 431 (headers too large), 414 (the request line alone overflowed Node's
 * header limit), 408 (request timeout) or 400, then closes the connection.
 */
export function clientErrorHandler(
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = classify(error);
  if (socket.writable) {
    const body = JSON.stringify(errorBody(code, message, randomUUID()));
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    // A client still sending its oversized request reads the answer once it is done; one that
    // never stops sending is cut off.
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  } else {
    socket.destroy();
  }
}

function classify(error: Error & { code?: string; rawPacket?: unknown }): [number, string, string] {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'REQUEST_TIMEOUT', 'The request took too long'];
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    // Node does not say which part overflowed; a packet that starts the request with a request line
    // longer than any URL we accept is a long URL.
    const raw = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
    const lineEnd = raw?.indexOf('\r\n') ?? -1;
    const startsRequest = raw !== undefined && /^[A-Z]+ \S/.test(raw.subarray(0, 16).toString('latin1'));
    if (startsRequest && (lineEnd === -1 || lineEnd > MAX_URL_LENGTH)) {
      return [414, 'URI_TOO_LONG', 'The URL is too long'];
    }
    return [431, 'HEADERS_TOO_LARGE', 'The request headers are too large'];
  }
  return [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
}
