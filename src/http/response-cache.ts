import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Moves whenever what the cached answers are computed from may have changed; undefined: unknown. */
export interface ChangeGeneration {
  current(): number | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The 200 answer is computed from the database alone (nothing per caller, nothing from the
     * clock): it is kept and sent again, per URL, until the database changes.
     */
    cached?: boolean;
  }
  interface FastifyRequest {
    /** The generation a cacheable answer was read under, for onSend to file it. */
    cacheGeneration?: number;
  }
}

/** What is kept at most, least recently used dropped first: answers, their characters, one's. */
const MAX_ENTRIES = 128;
const MAX_TOTAL_CHARS = 8 * 1024 * 1024;
const MAX_ENTRY_CHARS = 1024 * 1024;

interface Entry {
  generation: number;
  contentType: string;
  body: string;
}

/**
 * Lists polled by many clients at once (the admin UI, scripts, `watch`) cost a query and a
 * serialization each. A route with `config: { cached: true }` has its serialized 200 answer kept per
 * URL with the change generation read before the answer was computed; while the generation stays
 * the same the kept bytes are sent again. Runs after access control and validation (a preHandler),
 * so a cached answer is never sent to a caller the route would refuse, and every other hook (request
 * id, rate limit) still runs. An answer computed while a write landed is filed under the generation
 * before it, which has moved on, so it is never sent again.
 */
export function installResponseCache(app: FastifyInstance, changes: ChangeGeneration): void {
  const entries = new Map<string, Entry>();
  let totalChars = 0;
  const forget = (url: string) => {
    const entry = entries.get(url);
    if (entry === undefined) return;
    entries.delete(url);
    totalChars -= entry.body.length;
  };
  app.decorateRequest('cacheGeneration', undefined);

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.cached !== true || request.method !== 'GET') return;
    const generation = changes.current();
    if (generation === undefined) return;
    const entry = entries.get(request.url);
    if (entry?.generation === generation) {
      entries.delete(request.url);
      entries.set(request.url, entry);
      reply.header('content-type', entry.contentType);
      return reply.send(entry.body);
    }
    request.cacheGeneration = generation;
  });

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const generation = request.cacheGeneration;
    if (generation === undefined || reply.statusCode !== 200 || typeof payload !== 'string') return payload;
    forget(request.url);
    if (payload.length > MAX_ENTRY_CHARS) return payload;
    entries.set(request.url, {
      generation,
      contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
      body: payload,
    });
    totalChars += payload.length;
    while (entries.size > MAX_ENTRIES || totalChars > MAX_TOTAL_CHARS) {
      forget(entries.keys().next().value as string);
    }
    return payload;
  });
}
