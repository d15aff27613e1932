import Type, { type Static } from 'typebox';
import { LOG_HEAD_LINES, LOG_TAIL_LINES } from '../db/jobs.repo.js';

/** Wire shapes (snake_case) for every route; the OpenAPI document at /docs is generated from these. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code, e.g. REPO_NOT_FOUND' }),
      message: Type.String(),
      request_id: Type.Optional(Type.String()),
    }),
  },
  { $id: 'ErrorBody' },
);

const Timestamp = Type.String({ format: 'date-time' });
const NullableString = Type.Union([Type.String(), Type.Null()]);

export const Model = Type.Object({
  id: Type.String({ format: 'uuid' }),
  vendor: Type.String(),
  name: Type.String(),
  repo_id: Type.String({ description: 'Upstream owner/name' }),
  revision: Type.String(),
  commit_sha: NullableString,
  status: Type.Union([
    Type.Literal('registered'),
    Type.Literal('syncing'),
    Type.Literal('synced'),
    Type.Literal('error'),
  ]),
  error: NullableString,
  last_synced_at: Type.Union([Timestamp, Type.Null()]),
  pinned: Type.Boolean({ description: 'Pinned models keep their blobs when the store must shrink' }),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const RegisteredModel = Type.Object({
  ...Model.properties,
  sync_job_id: Type.Optional(Type.String({ format: 'uuid' })),
});

export const Artifact = Type.Object({
  id: Type.String({ format: 'uuid' }),
  model_id: Type.String({ format: 'uuid' }),
  path: Type.String(),
  size: Type.Integer(),
  file_type: Type.Union([
    Type.Literal('model'),
    Type.Literal('config'),
    Type.Literal('tokenizer'),
    Type.Literal('other'),
  ]),
  download_status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('downloading'),
    Type.Literal('completed'),
    Type.Literal('failed'),
  ]),
  sha256: NullableString,
  upstream_sha256: Type.Union([Type.String(), Type.Null()], {
    description: 'LFS sha256; null for plain git files',
  }),
  upstream_oid: Type.Union([Type.String(), Type.Null()], { description: 'Git blob sha1' }),
  commit_sha: NullableString,
  local_path: Type.Union([Type.String(), Type.Null()], {
    description: 'Absolute path of the blob once completed',
  }),
  bytes_downloaded: Type.Integer(),
  error: NullableString,
  removed_upstream: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const JobTypeSchema = Type.Union([
  Type.Literal('sync'),
  Type.Literal('download'),
  Type.Literal('scan'),
  Type.Literal('gc'),
  Type.Literal('import'),
]);
export const JobStatusSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);

export const JobProgress = Type.Object(
  {
    files_total: Type.Integer(),
    files_done: Type.Integer(),
    files_failed: Type.Integer(),
    bytes_total: Type.Integer(),
    bytes_done: Type.Integer(),
    bytes_per_second: Type.Integer({ description: 'Received from upstream, over the last few seconds' }),
    eta_seconds: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Null while the speed is unknown',
    }),
    current_files: Type.Array(
      Type.Object({
        artifact_id: Type.String({ format: 'uuid' }),
        path: Type.String(),
        size: Type.Integer(),
        bytes_done: Type.Integer(),
        bytes_per_second: Type.Integer({
          description: 'Bytes of this file received from upstream per second, over the last 3 s',
        }),
      }),
      { description: 'Files downloading now (at most 20 listed)' },
    ),
  },
  { description: 'Updated at most once per PROGRESS_INTERVAL_MS while the job runs; final when it ends' },
);

const LogLines = Type.Array(Type.String(), {
  description: `Lines "<ISO time> <message>", oldest first. A job keeps its first ${LOG_HEAD_LINES} and last ${LOG_TAIL_LINES} lines; where lines were dropped, one line "<ISO time> … N lines dropped …" stands at the cut`,
});

/** A job as lists show it: everything but its logs (see `GET /v1/hub/jobs/{job_id}/logs`). */
export const JobSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: JobTypeSchema,
  status: JobStatusSchema,
  payload: Type.Unknown(),
  result: Type.Unknown(),
  error: NullableString,
  progress: JobProgress,
  attempts: Type.Integer(),
  worker: Type.Union([Type.String(), Type.Null()], {
    description: 'The worker running it (host:pid:nonce) while it is running, else null',
  }),
  retry_of: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
    description: 'The failed or cancelled job this one retries (POST /v1/hub/jobs/{job_id}/retry), else null',
  }),
  cancel_requested_at: Type.Union([Timestamp, Type.Null()], {
    description:
      'When a cancel was asked for; a running job with it set stops as soon as its worker confirms',
  }),
  created_at: Timestamp,
  updated_at: Timestamp,
  started_at: Type.Union([Timestamp, Type.Null()]),
  finished_at: Type.Union([Timestamp, Type.Null()]),
});

export const Job = Type.Object({ ...JobSummary.properties, logs: LogLines });

export const JobLogPage = Type.Object({
  items: LogLines,
  next_cursor: Type.Union([Type.String(), Type.Null()]),
  dropped_lines: Type.Integer({ description: 'Lines the job wrote between its kept first and last ones' }),
});

export const JobAccepted = Type.Object({
  job_id: Type.String({ format: 'uuid' }),
  status: JobStatusSchema,
  message: Type.String(),
});

export const JobIdParams = Type.Object({ job_id: Type.String({ format: 'uuid' }) });
export const ModelIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const ScopeSchema = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')], {
  description:
    'read: every GET and the event streams; write: also register, sync, download, pin, cancel and retry jobs; admin: everything',
});

export const ApiKeyWire = Type.Object({
  id: Type.String({ format: 'uuid' }),
  prefix: Type.String({ description: 'The first characters of the key: names it in listings and logs' }),
  scope: ScopeSchema,
  name: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Updated at most once a minute',
  }),
});

export const CreatedApiKeyWire = Type.Object({
  ...ApiKeyWire.properties,
  key: Type.String({ description: 'The key itself: shown only in this answer, stored only as a hash' }),
});

/** `GET /v1/hub/whoami`: the caller's scope, for clients that show only what it allows. */
export const Whoami = Type.Object({
  scope: ScopeSchema,
  key_prefix: Type.Union([Type.String(), Type.Null()], {
    description: "The key's prefix; null without a key",
  }),
  auth: Type.Union([Type.Literal('off'), Type.Literal('loopback'), Type.Literal('key')], {
    description:
      'key: an API key was checked; loopback: no key exists yet, loopback requests are served; off: AUTH=off',
  }),
});

export type ModelWire = Static<typeof Model>;
export type ArtifactWire = Static<typeof Artifact>;
export type JobSummaryWire = Static<typeof JobSummary>;
export type JobWire = Static<typeof Job>;
export type ApiKeyWireType = Static<typeof ApiKeyWire>;
export type JobLogPageWire = Static<typeof JobLogPage>;
export type RegisteredModelWire = Static<typeof RegisteredModel>;
export type JobAcceptedWire = Static<typeof JobAccepted>;
export type JobProgressWire = Static<typeof JobProgress>;
export type WhoamiWire = Static<typeof Whoami>;
export type ErrorBodyWire = Static<typeof ErrorBody>;
