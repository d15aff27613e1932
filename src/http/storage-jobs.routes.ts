import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import { IdempotencyHeaders, idempotencyOf } from './idempotency.js';
import { ErrorBody, JobAccepted } from './schemas.js';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody };

/** Store maintenance as jobs: scan (reconcile database and disk) and garbage collection. */
export function storageJobsRoutes(deps: { jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/scan',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Queue a scan of the store',
          tags: ['storage'],
          description:
            'Completed artifacts whose blob is missing go back to pending; orphan blobs are reported; stale temp files are removed; metadata files out of step with their blob are repaired. `deep` re-hashes every blob and quarantines corrupt ones. `repo_id` limits the artifact checks to one repo (orphan and temp checks then do not run). The same scan while one is pending or running joins it.',
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              deep: Type.Optional(Type.Boolean({ default: false })),
              repo_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const { deep, repo_id: repoId } = request.body;
        const { job, message } = await deps.jobs.requestScan(
          { deep: deep ?? false, ...(repoId === undefined ? {} : { repoId }) },
          idempotencyOf(request),
        );
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );

    app.post(
      '/v1/hub/gc',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Queue a garbage collection of orphan blobs',
          tags: ['storage'],
          description:
            'Deletes blobs no artifact references (and the metadata files linked to them) once they are older than GC_GRACE_MS. A dry run (the default) only lists them.',
          headers: IdempotencyHeaders,
          body: Type.Object(
            { dry_run: Type.Optional(Type.Boolean({ default: true })) },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestGc(
          { dryRun: request.body.dry_run ?? true },
          idempotencyOf(request),
        );
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );
  };
}
