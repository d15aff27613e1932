import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { RateLimited } from '../errors.js';

export interface WriteRateLimitOptions {
  /** Writes per key (or client address) per minute; 0 turns the limit off. */
  writesPerMinute: number;
  /** Distributed mode: counters live here, so every API process draws on one budget. */
  redis: Redis | undefined;
  /** Prefix of the counters' Redis keys (the queue prefix's namespace). */
  redisKeyPrefix: string;
}

const WINDOW_MS = 60_000;
const WRITE_METHODS = new Set(['POST', 'PATCH', 'DELETE']);

/**
 * Caps POST/PATCH/DELETE under /v1 per API key, or per client address for requests without one,
 * so one caller cannot flood the queue, the upstream hub or the database. Runs as a preHandler,
 * after the access hook has said who is asking. Reads are never counted. Over the limit: 429
 * `RATE_LIMITED` with Retry-After. Registered before the routes it guards.
 */
export async function registerWriteRateLimit(
  app: FastifyInstance,
  options: WriteRateLimitOptions,
): Promise<void> {
  if (options.writesPerMinute <= 0) return;
  const redis = options.redis;
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: options.writesPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: (request) => (request.auth?.keyId ? `key:${request.auth.keyId}` : `ip:${request.ip}`),
    // While Redis is down a command would wait in the client's offline queue: the write goes on
    // uncounted instead, to meet the same outage (a 503) where it needs Redis anyway.
    allowList: (request) => !isLimitedWrite(request) || (redis !== undefined && redis.status !== 'ready'),
    // A counter that cannot be read lets the write through rather than failing it.
    skipOnError: true,
    ...(redis ? { redis, nameSpace: `${options.redisKeyPrefix}:rate-limit:` } : {}),
    errorResponseBuilder: (_request, context) =>
      new RateLimited(
        `Too many write requests: at most ${context.max} per minute per API key or client address; retry in ${context.after}`,
        Math.max(1, Math.ceil(context.ttl / 1000)),
      ),
  });
}

function isLimitedWrite(request: FastifyRequest): boolean {
  return WRITE_METHODS.has(request.method) && (request.routeOptions.url ?? '').startsWith('/v1/');
}
