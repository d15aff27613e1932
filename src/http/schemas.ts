import Type, { type Static, type TInteger, type TSchemaOptions, type TString } from 'typebox';
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

/**
 * `schema` or null, written as a type list (`type: ['string', 'null']`) rather than `anyOf` with a null
 * member: fast-json-stringify serializes a type list with a `typeof` check, but picks an `anyOf` member
 * by validating the value against each one (a format check of every timestamp in a list). The OpenAPI
 * 3.0 document shows both as `nullable: true`.
 */
export function Nullable<T extends TString | TInteger>(schema: T, options?: TSchemaOptions) {
  return Type.Unsafe<Static<T> | null>({ ...options, ...schema, type: [schema.type, 'null'] });
}

const Timestamp = Type.String({ format: 'date-time' });
const NullableString = Nullable(Type.String());

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
  last_synced_at: Nullable(Timestamp),
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
  upstream_sha256: Nullable(Type.String(), {
    description: 'LFS sha256; null for plain git files',
  }),
  upstream_oid: Nullable(Type.String(), { description: 'Git blob sha1' }),
  commit_sha: NullableString,
  local_path: Nullable(Type.String(), {
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
    eta_seconds: Nullable(Type.Integer(), {
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
  worker: Nullable(Type.String(), {
    description: 'The worker running it (host:pid:nonce) while it is running, else null',
  }),
  retry_of: Nullable(Type.String({ format: 'uuid' }), {
    description: 'The failed or cancelled job this one retries (POST /v1/hub/jobs/{job_id}/retry), else null',
  }),
  cancel_requested_at: Nullable(Timestamp, {
    description:
      'When a cancel was asked for; a running job with it set stops as soon as its worker confirms',
  }),
  created_at: Timestamp,
  updated_at: Timestamp,
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
});

export const Job = Type.Object({ ...JobSummary.properties, logs: LogLines });

export const JobLogPage = Type.Object({
  items: LogLines,
  next_cursor: Nullable(Type.String()),
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
  name: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Nullable(Type.String({ format: 'date-time' }), {
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
  key_prefix: Nullable(Type.String(), {
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
