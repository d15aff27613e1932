import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Idempotency } from '../services/jobs.service.js';

/**
 * `Idempotency-Key` on the routes that create jobs: a client that did not get an answer (a timeout,
 * a 503) sends the same request with the same key again and gets the job the first one created. The
 * request is fingerprinted, so the same key on a different request is refused (409) rather than
 * answered with a job that does something else.
 */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7E]+$',
      description:
        'Any 1–255 visible ASCII characters, new for each new request. Repeating a request with its key answers with the job the first one created (re-queued if it is still pending); the same key with another request is refused with 409 IDEMPOTENCY_KEY_REUSED.',
    }),
  ),
});

/** The request's key and fingerprint (sha256 of method, path and canonical JSON body), if it has a key. */
export function idempotencyOf(request: FastifyRequest): Idempotency | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  const path = request.url.split('?')[0] ?? '';
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${path}\n${canonicalJson(request.body ?? null)}`)
    .digest('hex');
  return { key, fingerprint };
}

/** JSON with object keys sorted at every depth, so field order does not change the fingerprint. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
