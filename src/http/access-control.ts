import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { Forbidden, Unauthorized } from '../errors.js';
import { hostOfHeader, isLoopbackHost } from '../loopback.js';
import { type ApiKeysService, scopeAllows } from '../services/api-keys.service.js';
import type { RequestAuth, RouteScope, ScopedRoute } from './route-scope.js';

/**
 * Access control, in one place. Each `/v1` route declares `config: { scope }` beside its schema; a
 * route without one refuses to register. One `onRequest` hook then decides, before the body is even
 * parsed:
 * - `AUTH=off`: every request is served.
 * - any API key exists (or `AUTH=on`): a key with the route's scope, else 401 / 403.
 * - no key yet, `AUTH=auto`: served only while the hub listens on loopback, and only to requests
 *   whose `Host` is a loopback name (a web page on another origin cannot rebind a name to 127.0.0.1
 *   and drive the API from a browser).
 * The event streams also take the key as `?access_token=` (a browser's EventSource cannot send
 * headers); request logs show every URL with that value redacted (`keepKeysOutOfRequestLogs`).
 * The presented key never reaches a log line: denials log the reason and, for a known key, its prefix.
 */
export interface AccessControlOptions {
  keys: Pick<ApiKeysService, 'anyKeys' | 'authenticate'>;
  mode: 'auto' | 'on' | 'off';
  /** The address the API listens on (`HOST`). */
  listenHost: string;
  /** `/metrics` without a key (`METRICS_PUBLIC=true`). */
  metricsPublic: boolean;
}

const OPEN: RequestAuth = { keyId: null, scope: 'open' };
const FIRST_KEY_HINT =
  'create one with `model-hub keys create --scope admin` on the hub machine (same environment as `serve`)';

export function installAccessControl(app: FastifyInstance, options: AccessControlOptions): ScopedRoute[] {
  const listensOnLoopback = isLoopbackHost(options.listenHost);
  const table: ScopedRoute[] = [];
  app.decorateRequest('auth', null as unknown as RequestAuth);

  app.addHook('onRoute', (route: RouteOptions) => {
    const scope = declaredScope(route, options.metricsPublic);
    route.config = { ...route.config, scope };
    for (const method of [route.method].flat()) table.push({ method, url: route.url, scope });
    if (scope !== 'public' && route.schema && !route.schema.hide) {
      route.schema = { ...route.schema, security: [{ apiKey: [scope] }] } as typeof route.schema;
    }
  });

  app.addHook('onRequest', async (request) => {
    request.auth = await authorize(request);
  });

  async function authorize(request: FastifyRequest): Promise<RequestAuth> {
    const needed = request.routeOptions.config.scope ?? (request.url.startsWith('/v1/') ? 'read' : 'public');
    if (needed === 'public' || options.mode === 'off') return OPEN;

    // Until the first key exists any Authorization header is ignored: a client that always sends a
    // token (an HF client sends HF_TOKEN) still works against an open loopback hub.
    if (options.mode === 'auto' && !(await options.keys.anyKeys())) {
      if (!listensOnLoopback) deny(request, 'no API key exists', `No API key exists yet: ${FIRST_KEY_HINT}`);
      const host = hostOfHeader(request.headers.host);
      if (host === undefined || !isLoopbackHost(host)) {
        request.log.warn(
          { reason: 'non-loopback Host header', host: request.headers.host?.slice(0, 100) },
          'access denied',
        );
        throw new Forbidden(
          'FORBIDDEN',
          'This hub has no API keys yet, so it answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1]); ' +
            `to reach it by another name, ${FIRST_KEY_HINT} and send it as "Authorization: Bearer <key>"`,
        );
      }
      return OPEN;
    }

    const presented = bearerToken(request.headers.authorization) ?? queryToken(request);
    if (presented === undefined) {
      deny(request, 'no key', 'This request needs an API key: send "Authorization: Bearer <key>"');
    }
    const key = await options.keys.authenticate(presented);
    if (!key) deny(request, 'unknown key', 'The API key is not valid (unknown or revoked)');
    if (!scopeAllows(key.scope, needed)) {
      request.log.warn({ reason: 'scope', key: key.prefix, scope: key.scope, needed }, 'access denied');
      throw new Forbidden(
        'FORBIDDEN',
        `This key has the "${key.scope}" scope; ${request.method} ${request.routeOptions.url ?? 'this route'} needs "${needed}"`,
      );
    }
    return { keyId: key.id, scope: key.scope };
  }
  return table;
}

function deny(request: FastifyRequest, reason: string, message: string): never {
  request.log.warn({ reason }, 'access denied');
  throw new Unauthorized('UNAUTHORIZED', message);
}

/**
 * The token of `Authorization: Bearer <token>`; anything else counts as no key. `hf_mh_…` is the
 * key `mh_…`: @huggingface/hub refuses tokens that do not start with `hf_`.
 */
function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  const token = match?.[1];
  return token?.startsWith('hf_mh_') ? token.slice('hf_'.length) : token;
}

/** `?access_token=<key>`, read only on routes that declare `keyInQuery` (the event streams). */
function queryToken(request: FastifyRequest): string | undefined {
  if (request.routeOptions.config.keyInQuery !== true) return undefined;
  const token = (request.query as { access_token?: unknown } | undefined)?.access_token;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/** A request's URL for log lines, with the value of `access_token` replaced. */
export function redactedUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[REDACTED]');
}

/**
 * Every request logger's `req` serializer (Fastify's fields), with the URL redacted: a key sent as
 * `?access_token=`, to the event streams or by mistake to any other route, never reaches a log line.
 */
export function keepKeysOutOfRequestLogs(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return logger.child(bindings, {
    ...options,
    serializers: {
      ...options.serializers,
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: redactedUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  });
}

function declaredScope(route: RouteOptions, metricsPublic: boolean): RouteScope {
  const declared = (route.config as { scope?: RouteScope } | undefined)?.scope;
  if (route.url === '/metrics') return metricsPublic ? 'public' : 'read';
  if (declared) return declared;
  if (route.url.startsWith('/v1/')) {
    throw new Error(`Route ${route.method} ${route.url} declares no access scope (config.scope)`);
  }
  // The probes and the API documentation.
  return 'public';
}
