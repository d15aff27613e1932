import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import { IdempotencyHeaders, idempotencyOf } from './idempotency.js';
import { ErrorBody, JobAccepted } from './schemas.js';

export function importRoutes(deps: { jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/import',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Import files already on the hub machine',
          tags: ['hub'],
          description:
            'Adopts a Hugging Face cache (the hub cache root, or one `models--org--name` folder) or, with `repo_id`, a plain folder of files. Each file is matched to its artifact by path, hashed, and accepted only if it matches what upstream advertised; same file system: hard links, else verified copies. The source is never changed. Only paths inside IMPORT_ROOTS are accepted (resolved, symlinks included): without IMPORT_ROOTS import is disabled (403 IMPORT_DISABLED); a path outside the roots, one leading out through a symlink and one that does not exist all get the same 403 IMPORT_PATH_REFUSED.',
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              path: Type.String({
                minLength: 1,
                maxLength: 4096,
                description: "Absolute path on the hub's machine",
              }),
              repo_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestImport(
          request.body.path,
          request.body.repo_id,
          idempotencyOf(request),
        );
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );
  };
}
