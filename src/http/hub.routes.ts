import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import type { RegistryService } from '../services/registry.service.js';
import { presentModel } from './presenters.js';
import { ErrorBody, JobAccepted, RegisteredModel } from './schemas.js';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody };

export function hubRoutes(deps: { registry: RegistryService; jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/register',
      {
        schema: {
          summary: 'Register an upstream repo',
          tags: ['hub'],
          body: Type.Object(
            {
              vendor: Type.String({ minLength: 1, maxLength: 96 }),
              name: Type.String({ minLength: 1, maxLength: 96 }),
              source_repo_id: Type.String({
                minLength: 1,
                maxLength: 200,
                description: 'owner/name on the hub',
              }),
              revision: Type.Optional(Type.String({ minLength: 1, maxLength: 255, default: 'main' })),
              auto_sync: Type.Optional(Type.Boolean({ default: false })),
            },
            { additionalProperties: false },
          ),
          response: { 201: RegisteredModel, ...errors },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const { model, syncJobId } = await deps.registry.registerRepo({
          vendor: body.vendor,
          name: body.name,
          sourceRepoId: body.source_repo_id,
          revision: body.revision ?? 'main',
          autoSync: body.auto_sync ?? false,
        });
        return reply
          .status(201)
          .send({ ...presentModel(model), ...(syncJobId ? { sync_job_id: syncJobId } : {}) });
      },
    );

    app.post(
      '/v1/hub/sync',
      {
        schema: {
          summary: 'Queue a sync of a registered repo',
          tags: ['hub'],
          body: Type.Object(
            { repo_id: Type.String({ minLength: 1, maxLength: 200 }) },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestSync(request.body.repo_id);
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );

    app.post(
      '/v1/hub/download',
      {
        schema: {
          summary: 'Queue a download of artifacts',
          tags: ['hub'],
          body: Type.Object(
            {
              artifact_ids: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 100_000 }),
            },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestDownload(request.body.artifact_ids);
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );
  };
}
