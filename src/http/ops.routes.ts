import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { LogLevel } from 'fastify';
import Type from 'typebox';
import type { ReadinessService } from '../services/readiness.service.js';

/**
 * Operations endpoints, for orchestrators and Prometheus rather than API clients (hidden from the
 * OpenAPI document):
 * - `GET /healthz`: the process is alive and serving; checks nothing else, so a restart cannot fix it.
 * - `GET /readyz`: the process can do its work right now: database, queue and store answer.
 * - `GET /metrics`: the Prometheus text exposition.
 * They log at `warn` only: probes and scrapes every few seconds would drown the request log.
 */
export interface OpsDeps {
  readiness: Pick<ReadinessService<string>, 'check'>;
  metrics: { render(): Promise<{ contentType: string; body: string }> };
}

const Checks = Type.Record(Type.String(), Type.String({ description: '`ok`, or why the check failed' }));

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** `warn`, unless the app logs even less: a route's level may quiet it, never make it louder. */
function quietLevel(appLevel: string): LogLevel {
  const app = LEVELS.find((level) => level === appLevel);
  return app && LEVELS.indexOf(app) > LEVELS.indexOf('warn') ? app : 'warn';
}

export function opsRoutes(deps: OpsDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const logLevel = quietLevel(app.log.level);
    app.get(
      '/healthz',
      {
        logLevel,
        schema: { hide: true, response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        logLevel,
        schema: {
          hide: true,
          response: {
            200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
            503: Type.Object({ status: Type.Literal('not_ready'), checks: Checks }),
          },
        },
      },
      async (request, reply) => {
        const { ready, checks } = await deps.readiness.check();
        if (ready) return reply.status(200).send({ status: 'ready', checks });
        request.log.warn({ checks }, 'not ready');
        return reply.status(503).send({ status: 'not_ready', checks });
      },
    );

    app.get('/metrics', { logLevel, schema: { hide: true } }, async (_request, reply) => {
      const { contentType, body } = await deps.metrics.render();
      return reply.type(contentType).send(body);
    });
  };
}
