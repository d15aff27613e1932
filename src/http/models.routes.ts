import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { RegistryService } from '../services/registry.service.js';
import { presentArtifact, presentModel } from './presenters.js';
import { Artifact, ErrorBody, Model, ModelIdParams, Nullable } from './schemas.js';

export function modelsRoutes(deps: {
  registry: RegistryService;
  storeRoot: string;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/models',
      {
        config: { scope: 'read', cached: true },
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
        config: { scope: 'read' },
        schema: {
          summary: 'One registered repo',
          tags: ['models'],
          params: ModelIdParams,
          response: { 200: Model, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => presentModel(await deps.registry.getModel(request.params.id)),
    );

    app.patch(
      '/v1/hub/models/:id',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Pin or unpin a repo (pinned blobs are never evicted to meet the store quota)',
          tags: ['models'],
          params: ModelIdParams,
          body: Type.Object({ pinned: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: Model, 400: ErrorBody, 404: ErrorBody, 415: ErrorBody },
        },
      },
      async (request) => presentModel(await deps.registry.setPinned(request.params.id, request.body.pinned)),
    );

    app.delete(
      '/v1/hub/models/:id',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Forget a repo and its artifacts; `purge=true` also collects its now unreferenced blobs',
          tags: ['models'],
          params: ModelIdParams,
          querystring: Type.Object(
            { purge: Type.Optional(Type.Boolean({ default: false })) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              deleted: Model,
              gc_job_id: Nullable(Type.String({ format: 'uuid' }), {
                description: 'The gc job collecting its blobs (purge=true), else null',
              }),
            }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const { model, gcJobId } = await deps.registry.deleteModel(
          request.params.id,
          request.query.purge ?? false,
        );
        return { deleted: presentModel(model), gc_job_id: gcJobId };
      },
    );

    app.get(
      '/v1/hub/models/:id/artifacts',
      {
        config: { scope: 'read', cached: true },
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
