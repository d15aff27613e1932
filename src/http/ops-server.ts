import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type AccessControlOptions, installAccessControl } from './access-control.js';
import { handleError, handleNotFound } from './error-handler.js';
import { type OpsDeps, opsRoutes } from './ops.routes.js';
import { clientErrorHandler, frameworkErrors } from './transport-errors.js';

/**
 * The HTTP face of a `worker` process, which has no API: only /healthz, /readyz and /metrics, so
 * its counters can be scraped and an orchestrator can probe it (`METRICS_PORT`).
 */
export async function buildOpsServer(
  deps: OpsDeps & { logger: Logger; access: AccessControlOptions },
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  // /metrics needs a read key like the API's, unless METRICS_PUBLIC=true.
  installAccessControl(app as unknown as FastifyInstance, deps.access);
  await app.register(opsRoutes(deps));
  return app as unknown as FastifyInstance;
}
