import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RegistryService } from '../services/registry.service.js';
import { presentArtifact, presentModel } from './presenters.js';
import { Artifact, ErrorBody, Model, ModelIdParams } from './schemas.js';

export function modelsRoutes(deps: {
  registry: RegistryService;
  storeRoot: string;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/models',
      {
        schema: {
          summary: 'List registered repos',
          tags: ['models'],
          response: { 200: Type.Object({ items: Type.Array(Model) }) },
        },
      },
      async () => ({ items: (await deps.registry.listModels()).map(presentModel) }),
    );

    app.get(
      '/v1/hub/models/:id',
      {
        schema: {
          summary: 'One registered repo',
          tags: ['models'],
          params: ModelIdParams,
          response: { 200: Model, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => presentModel(await deps.registry.getModel(request.params.id)),
    );

    app.get(
      '/v1/hub/models/:id/artifacts',
      {
        schema: {
          summary: "A repo's artifacts (one per upstream file), by path",
          tags: ['models'],
          params: ModelIdParams,
          response: { 200: Type.Object({ items: Type.Array(Artifact) }), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => ({
        items: (await deps.registry.listArtifacts(request.params.id)).map((a) =>
          presentArtifact(a, deps.storeRoot),
        ),
      }),
    );
  };
}
