import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import { presentJob, presentJobDetail, presentJobLogPage } from './presenters.js';
import {
  ErrorBody,
  Job,
  JobIdParams,
  JobLogPage,
  JobStatusSchema,
  JobSummary,
  JobTypeSchema,
} from './schemas.js';

export function jobsRoutes(deps: { jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/jobs',
      {
        config: { scope: 'read' },
        schema: {
          summary: 'List jobs, newest first',
          description:
            'Each job without its logs: read those with `GET /v1/hub/jobs/{job_id}` or, a page at a time, `GET /v1/hub/jobs/{job_id}/logs`.',
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
              items: Type.Array(JobSummary),
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
        config: { scope: 'read' },
        schema: {
          summary: 'One job with its logs and result',
          tags: ['jobs'],
          params: JobIdParams,
          response: { 200: Job, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => presentJobDetail(await deps.jobs.getJob(request.params.job_id)),
    );

    app.get(
      '/v1/hub/jobs/:job_id/logs',
      {
        config: { scope: 'read' },
        schema: {
          summary: "A job's log lines, oldest first, a page at a time",
          description:
            'Pass `next_cursor` back as `cursor` for the next page; it is null on the last one. `dropped_lines` counts the lines written between the kept first and last ones.',
          tags: ['jobs'],
          params: JobIdParams,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
              cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: JobLogPage, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const page = await deps.jobs.getJobLogs(request.params.job_id, {
          limit: limit ?? 200,
          ...(cursor ? { cursor } : {}),
        });
        return presentJobLogPage(page);
      },
    );
  };
}
