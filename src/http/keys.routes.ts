import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { ApiKeysService } from '../services/api-keys.service.js';
import { presentApiKey } from './presenters.js';
import { ApiKeyWire, CreatedApiKeyWire, ErrorBody, ScopeSchema } from './schemas.js';

const tags = ['keys'];

export function keysRoutes(deps: { apiKeys: ApiKeysService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/keys',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Create an API key (the answer is the only time the key is shown)',
          tags,
          body: Type.Object(
            {
              scope: ScopeSchema,
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: CreatedApiKeyWire, 400: ErrorBody, 415: ErrorBody },
        },
      },
      async (request, reply) => {
        const created = await deps.apiKeys.create({
          scope: request.body.scope,
          name: request.body.name ?? null,
        });
        request.log.info(
          { keyId: created.id, prefix: created.prefix, scope: created.scope },
          'API key created',
        );
        return reply.status(201).send({ ...presentApiKey(created), key: created.key });
      },
    );

    app.get(
      '/v1/hub/keys',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'List API keys (never the keys themselves)',
          tags,
          response: { 200: Type.Object({ items: Type.Array(ApiKeyWire) }) },
        },
      },
      async () => ({ items: (await deps.apiKeys.list()).map(presentApiKey) }),
    );

    app.delete(
      '/v1/hub/keys/:key',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Revoke an API key, by id or by its prefix; it stops working at once',
          tags,
          params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) }),
          response: {
            200: Type.Object({ revoked: ApiKeyWire }),
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
          },
        },
      },
      async (request) => {
        const revoked = await deps.apiKeys.revoke(request.params.key);
        request.log.info({ keyId: revoked.id, prefix: revoked.prefix }, 'API key revoked');
        return { revoked: presentApiKey(revoked) };
      },
    );
  };
}
