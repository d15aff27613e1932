import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { CANCEL_WAIT_MS, type JobCancelService } from '../services/job-cancel.service.js';
import type { JobsService } from '../services/jobs.service.js';
import { presentJob, presentJobDetail, presentJobLogPage } from './presenters.js';
import {
  ErrorBody,
  Job,
  JobAccepted,
  JobIdParams,
  JobLogPage,
  JobStatusSchema,
  JobSummary,
  JobTypeSchema,
  Nullable,
} from './schemas.js';

export function jobsRoutes(deps: {
  jobs: JobsService;
  jobCancel: JobCancelService;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/jobs',
      {
        config: { scope: 'read', cached: true },
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
              next_cursor: Nullable(Type.String()),
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

    app.post(
      '/v1/hub/jobs/:job_id/cancel',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Cancel a pending or running job',
          description:
            `A pending job is cancelled at once. A running one is stopped by the worker running it, in any process: its transfers stop, partial files are kept (a retry resumes them) and its files being downloaded go back to \`pending\`; a job whose worker died is ended without running again. The answer waits up to ${CANCEL_WAIT_MS / 1000} s for the job to end, so \`status\` is usually \`cancelled\`; it may still read \`running\` (with \`cancel_requested_at\` set) when the worker has not confirmed by then, and the job then ends \`cancelled\` shortly after (watch for its \`job.cancelled\` event). ` +
            'Cancelling a cancelled job answers it again (200); a completed or failed job is 409 JOB_NOT_CANCELLABLE.',
          tags: ['jobs'],
          params: JobIdParams,
          response: { 200: Job, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request) => {
        await deps.jobCancel.cancelJob(request.params.job_id);
        return presentJobDetail(await deps.jobs.getJob(request.params.job_id));
      },
    );

    app.post(
      '/v1/hub/jobs/:job_id/retry',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Retry a failed or cancelled job as a new job',
          description:
            'Queues a new job for what the old one did not complete, with `retry_of` naming it: a download of its artifacts not downloaded now (their partial files resume where they stopped), a sync of the same repo, a scan, GC or import with the same payload. Like other job requests, it joins an active job doing the same. 409 JOB_NOT_RETRYABLE for a pending, running or completed job, or when nothing is left to do.',
          tags: ['jobs'],
          params: JobIdParams,
          response: { 202: JobAccepted, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestRetry(request.params.job_id);
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
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
