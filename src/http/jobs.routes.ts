import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import { presentJob } from './presenters.js';
import { ErrorBody, Job, JobIdParams, JobStatusSchema, JobTypeSchema } from './schemas.js';

export function jobsRoutes(deps: { jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/jobs',
      {
        schema: {
          summary: 'List jobs, newest first',
          tags: ['jobs'],
          querystring: Type.Object(
            {
              status: Type.Optional(JobStatusSchema),
              type: Type.Optional(JobTypeSchema),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
              cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              items: Type.Array(Job),
              next_cursor: Type.Union([Type.String(), Type.Null()]),
            }),
            400: ErrorBody,
          },
        },
      },
      async (request) => {
        const q = request.query;
        const page = await deps.jobs.listJobs({
          limit: q.limit ?? 50,
          ...(q.status ? { status: q.status } : {}),
          ...(q.type ? { type: q.type } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        });
        return { items: page.items.map(presentJob), next_cursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/hub/jobs/:job_id',
      {
        schema: {
          summary: 'One job with its logs and result',
          tags: ['jobs'],
          params: JobIdParams,
          response: { 200: Job, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => presentJob(await deps.jobs.getJob(request.params.job_id)),
    );
  };
}
