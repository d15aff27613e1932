import type { Scope } from '../services/api-keys.service.js';

/**
 * Every `/v1` route declares the scope it needs next to its schema, as `config: { scope }`; the
 * access hook reads it, and a route without one refuses to register. `public` is for the probes
 * (`/healthz`, `/readyz`) and the API documentation only.
 */
export type RouteScope = Scope | 'public';

/** A registered route and the scope it needs (HEAD routes included): what the access tests walk. */
export interface ScopedRoute {
  method: string;
  url: string;
  scope: RouteScope;
}

/** Who is asking: the key that authenticated the request, or nobody while access control is open. */
export interface RequestAuth {
  keyId: string | null;
  scope: Scope | 'open';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
    /**
     * The key may also come as `?access_token=` (the event streams only: a browser's EventSource
     * cannot send headers). Such routes must keep the query string out of their logs.
     */
    keyInQuery?: boolean;
  }
  interface FastifyInstance {
    /** Every route of this server with its scope, as the access hook recorded them. */
    routeScopes: readonly ScopedRoute[];
  }
  interface FastifyRequest {
    /** Set by the access hook before validation; `keyId` names the key for rate limits and logs. */
    auth: RequestAuth;
  }
}
