import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { JobsService } from '../services/jobs.service.js';
import type { RegistryService } from '../services/registry.service.js';
import { IdempotencyHeaders, idempotencyOf } from './idempotency.js';
import { presentModel } from './presenters.js';
import { ErrorBody, JobAccepted, RegisteredModel } from './schemas.js';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody };
// Registering asks upstream: its refusal is a 403 (or a 404), upstream down or slow a 502 or 504.
const registerErrors = { ...errors, 403: ErrorBody, 502: ErrorBody, 504: ErrorBody };

export function hubRoutes(deps: { registry: RegistryService; jobs: JobsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/register',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Register an upstream repo',
          tags: ['hub'],
          description:
            "Asks upstream once (model info at `revision`, with the hub's HF_TOKEN) whether the repo can be mirrored: 404 when the repo or the revision does not exist there (or is private and HF_TOKEN cannot read it), 403 when it is gated or refused for HF_TOKEN, 502 (504 on a timeout) when upstream cannot be asked. `verify: false` skips the check.",
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
              verify: Type.Optional(
                Type.Boolean({
                  default: true,
                  description:
                    'Check upstream that the repo exists at `revision` and that HF_TOKEN can read it before registering. `false` registers without asking (an air-gapped hub before an import, or upstream down); the first sync checks it then.',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: RegisteredModel, ...registerErrors },
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
          verify: body.verify ?? true,
        });
        return reply
          .status(201)
          .send({ ...presentModel(model), ...(syncJobId ? { sync_job_id: syncJobId } : {}) });
      },
    );

    app.post(
      '/v1/hub/sync',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Queue a sync of a registered repo',
          tags: ['hub'],
          description: 'A sync of a repo that already has one pending or running joins that job.',
          headers: IdempotencyHeaders,
          body: Type.Object(
            { repo_id: Type.String({ minLength: 1, maxLength: 200 }) },
            { additionalProperties: false },
          ),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const { job, message } = await deps.jobs.requestSync(request.body.repo_id, idempotencyOf(request));
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );

    app.post(
      '/v1/hub/download',
      {
        config: { scope: 'write' },
        schema: {
          summary: 'Queue a download of artifacts',
          tags: ['hub'],
          description:
            'Either `artifact_ids`, or `repo_id` with optional `include`/`exclude` glob lists (e.g. `["*.json", "*.safetensors"]`) to download a whole repo or a subset in one job. A request for the same set of artifacts as a pending or running download joins that job.',
          headers: IdempotencyHeaders,
          body: Type.Union([
            Type.Object(
              {
                artifact_ids: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 100_000 }),
              },
              { additionalProperties: false },
            ),
            Type.Object(
              {
                repo_id: Type.String({ minLength: 1, maxLength: 200 }),
                include: Type.Optional(
                  Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 100 }),
                ),
                exclude: Type.Optional(
                  Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 100 }),
                ),
              },
              { additionalProperties: false },
            ),
          ]),
          response: { 202: JobAccepted, ...errors },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const idempotency = idempotencyOf(request);
        const { job, message } =
          'artifact_ids' in body
            ? await deps.jobs.requestDownload(body.artifact_ids, idempotency)
            : await deps.jobs.requestRepoDownload(body.repo_id, body.include, body.exclude, idempotency);
        return reply.status(202).send({ job_id: job.id, status: job.status, message });
      },
    );
  };
}
