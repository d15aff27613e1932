import { randomUUID } from 'node:crypto';
import { fastifySSE } from '@fastify/sse';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApiKeysService } from '../services/api-keys.service.js';
import type { EventsService } from '../services/events.service.js';
import type { JobCancelService } from '../services/job-cancel.service.js';
import type { JobsService } from '../services/jobs.service.js';
import type { MirrorService } from '../services/mirror.service.js';
import type { RegistryService } from '../services/registry.service.js';
import type { StorageService } from '../services/storage.service.js';
import type { WebhooksService } from '../services/webhooks.service.js';
import {
  type AccessControlOptions,
  installAccessControl,
  keepKeysOutOfRequestLogs,
} from './access-control.js';
import { refuseControlCharacters } from './control-characters.js';
import { handleError, handleNotFound } from './error-handler.js';
import { eventsRoutes } from './events.routes.js';
import { hubRoutes } from './hub.routes.js';
import { importRoutes } from './import.routes.js';
import { jobsRoutes } from './jobs.routes.js';
import { keysRoutes } from './keys.routes.js';
import { mirrorRoutes } from './mirror.routes.js';
import { modelsRoutes } from './models.routes.js';
import { type OpsDeps, opsRoutes } from './ops.routes.js';
import { registerWriteRateLimit, type WriteRateLimitOptions } from './rate-limit.js';
import { type ChangeGeneration, installResponseCache } from './response-cache.js';
import { storageRoutes } from './storage.routes.js';
import { storageJobsRoutes } from './storage-jobs.routes.js';
import { clientErrorHandler, frameworkErrors, refuseLongUrls } from './transport-errors.js';
import { type UiRoutesOptions, uiRoutes } from './ui.routes.js';
import { webhooksRoutes } from './webhooks.routes.js';
import { whoamiRoutes } from './whoami.routes.js';

export interface HttpDeps extends OpsDeps {
  storage: StorageService;
  registry: RegistryService;
  /** The Hugging Face–compatible read side (`/api/models/…`, `/{repo}/resolve/…`). */
  mirror: MirrorService;
  jobs: JobsService;
  jobCancel: JobCancelService;
  webhooks: WebhooksService;
  events: EventsService;
  apiKeys: ApiKeysService;
  access: Omit<AccessControlOptions, 'keys'>;
  rateLimit: WriteRateLimitOptions;
  /** Moves whenever the database may have changed: cached list answers are kept until it does. */
  changes: ChangeGeneration;
  /** How often an idle event stream gets a heartbeat comment (ms). */
  sseHeartbeatMs: number;
  storeRoot: string;
  logger: Logger;
  bodyLimitBytes: number;
  version: string;
  /** The admin UI at `/ui` (`dist/ui` by default). */
  ui?: UiRoutesOptions;
}

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown fields refused); query
 * strings and path params are text on the wire, so they may be coerced (`limit=10` → 10).
 */
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

export async function buildHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );
  app.setErrorHandler(handleError);
  app.setChildLoggerFactory(keepKeysOutOfRequestLogs);
  // The API speaks JSON only; anything else is a 415, not a string handed to a schema.
  app.removeContentTypeParser('text/plain');
  app.setNotFoundHandler(handleNotFound);
  app.addHook('onRequest', refuseLongUrls);
  app.addHook('preValidation', refuseControlCharacters);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', String(request.id));
  });

  // Before any route (and before the OpenAPI collector) so every route gets its scope checked and documented.
  app.decorate(
    'routeScopes',
    installAccessControl(app as unknown as FastifyInstance, { keys: deps.apiKeys, ...deps.access }),
  );

  await app.register(swagger, {
    openapi: {
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key (mh_…) with the scope the route names',
          },
        },
      },
      info: {
        title: 'Model Hub',
        version: deps.version,
        description: 'Self-hosted registry and mirror for Hugging Face models',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Before the routes: the limit attaches itself to each route as it is added.
  await registerWriteRateLimit(app as unknown as FastifyInstance, deps.rateLimit);
  installResponseCache(app as unknown as FastifyInstance, deps.changes);

  await app.register(opsRoutes(deps));
  await app.register(hubRoutes(deps));
  await app.register(importRoutes(deps));
  await app.register(jobsRoutes(deps));
  await app.register(fastifySSE, { heartbeatInterval: deps.sseHeartbeatMs });
  await app.register(eventsRoutes(deps));
  await app.register(modelsRoutes(deps));
  await app.register(webhooksRoutes(deps));
  await app.register(storageJobsRoutes(deps));
  await app.register(storageRoutes(deps));
  await app.register(keysRoutes(deps));
  await app.register(whoamiRoutes(deps));
  await app.register(uiRoutes(deps.ui));
  await app.register(mirrorRoutes(deps));
  return app as unknown as FastifyInstance;
}
