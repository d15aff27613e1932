import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { handleError } from './error-handler.js';
import { type OpsDeps, opsRoutes } from './ops.routes.js';

/**
 * The HTTP face of a `worker` process, which has no API: only /healthz, /readyz and /metrics, so
 * its counters can be scraped and an orchestrator can probe it (`METRICS_PORT`).
 */
export async function buildOpsServer(deps: OpsDeps & { logger: Logger }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(handleError);
  await app.register(opsRoutes(deps));
  return app as unknown as FastifyInstance;
}
