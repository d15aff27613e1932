/**
 * The one way the UI talks to the API: adds the key, parses the error shape
 * `{error: {code, message, request_id}}` into an ApiError (with the fields a validation message
 * names), and tells the app when the key is missing or refused (401). Wire types come from the
 * API's own schemas, as types only: nothing is restated and no schema code is bundled.
 */
import type { HubEvent } from '../../src/events/hub-event.js';
import type {
  ArtifactWire,
  ErrorBodyWire,
  JobAcceptedWire,
  JobLogPageWire,
  JobSummaryWire,
  JobWire,
  ModelWire,
  RegisteredModelWire,
  WhoamiWire,
} from '../../src/http/schemas.js';
import type { StorageReportWire } from '../../src/http/storage.routes.js';
import type { WebhookDeliveryWire, WebhookWire } from '../../src/http/webhook-schemas.js';

export type {
  ArtifactWire,
  HubEvent,
  JobSummaryWire,
  JobWire,
  ModelWire,
  StorageReportWire,
  WebhookDeliveryWire,
  WebhookWire,
  WhoamiWire,
};
export type Scope = WhoamiWire['scope'];
/** `cancelled` is the status a cancelled job ends in (`POST /v1/hub/jobs/{id}/cancel`). */
export type JobStatus = JobSummaryWire['status'] | 'cancelled';
export type JobType = JobSummaryWire['type'];
/** A job as the UI holds it: the status may be one this build of the schema does not list yet. */
export type Job = Omit<JobSummaryWire, 'status'> & { status: JobStatus };

const KEY_STORAGE = 'model-hub.api-key';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(KEY_STORAGE);
    else sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage refused (private mode): the key lives as long as the page.
  }
  memoryKey = key;
}

let memoryKey: string | null = storedKey();
export const currentKey = (): string | null => memoryKey;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Messages by body field (`source_repo_id`, `revision`…), from a 400's message. */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

type Listener = (error: ApiError) => void;
const unauthorizedListeners = new Set<Listener>();
/** Called on every 401: the key is missing, unknown or revoked. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** Field errors from the codes the services use, and from the validator's `body.<field> …` messages. */
const FIELD_OF_CODE: Record<string, string> = {
  INVALID_REPO_ID: 'source_repo_id',
  REPO_ALREADY_REGISTERED: 'source_repo_id',
  INVALID_REVISION: 'revision',
  UPSTREAM_REPO_NOT_FOUND: 'source_repo_id',
  UPSTREAM_REVISION_NOT_FOUND: 'revision',
};

function fieldsOf(code: string, message: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const byCode = FIELD_OF_CODE[code];
  if (byCode) fields[byCode] = message;
  for (const part of message.split('; ')) {
    const match = /^body\.([a-z_]+)/.exec(part);
    if (match?.[1] && !(match[1] in fields)) fields[match[1]] = part;
  }
  return fields;
}

export async function api<T>(
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = currentKey();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The hub did not answer: is it running and reachable?');
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (response.ok) return parsed as T;
  const error = (parsed as Partial<ErrorBodyWire> | undefined)?.error;
  const code = error?.code ?? `HTTP_${response.status}`;
  const message = error?.message ?? `The hub answered ${response.status} ${response.statusText}`.trim();
  const failure = new ApiError(response.status, code, message, fieldsOf(code, message));
  if (response.status === 401) for (const listener of unauthorizedListeners) listener(failure);
  return Promise.reject(failure);
}

const enc = encodeURIComponent;
function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '');
  return entries.length ? `?${entries.map(([k, v]) => `${k}=${enc(String(v))}`).join('&')}` : '';
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** The routes the UI uses, typed by their schemas. */
export const hub = {
  whoami: () => api<WhoamiWire>('GET', '/v1/hub/whoami'),
  models: () => api<{ items: ModelWire[] }>('GET', '/v1/hub/models'),
  model: (id: string) => api<ModelWire>('GET', `/v1/hub/models/${enc(id)}`),
  artifacts: (id: string) => api<{ items: ArtifactWire[] }>('GET', `/v1/hub/models/${enc(id)}/artifacts`),
  register: (body: {
    vendor: string;
    name: string;
    source_repo_id: string;
    revision?: string;
    auto_sync: boolean;
    verify?: boolean;
  }) => api<RegisteredModelWire>('POST', '/v1/hub/register', body),
  sync: (repoId: string) => api<JobAcceptedWire>('POST', '/v1/hub/sync', { repo_id: repoId }),
  download: (
    body: { artifact_ids: string[] } | { repo_id: string; include?: string[]; exclude?: string[] },
  ) => api<JobAcceptedWire>('POST', '/v1/hub/download', body),
  pin: (id: string, pinned: boolean) => api<ModelWire>('PATCH', `/v1/hub/models/${enc(id)}`, { pinned }),
  deleteModel: (id: string, purge: boolean) =>
    api<{ deleted: ModelWire; gc_job_id: string | null }>(
      'DELETE',
      `/v1/hub/models/${enc(id)}${query({ purge })}`,
    ),
  jobs: (q: { status?: string; type?: string; limit?: number; cursor?: string }) =>
    api<Page<Job>>('GET', `/v1/hub/jobs${query(q)}`),
  job: (id: string) => api<Omit<JobWire, 'status'> & { status: JobStatus }>('GET', `/v1/hub/jobs/${enc(id)}`),
  jobLogs: (id: string, cursor?: string) =>
    api<JobLogPageWire>('GET', `/v1/hub/jobs/${enc(id)}/logs${query({ limit: 1000, cursor })}`),
  cancelJob: (id: string) => api<Job>('POST', `/v1/hub/jobs/${enc(id)}/cancel`),
  retryJob: (id: string) => api<JobAcceptedWire>('POST', `/v1/hub/jobs/${enc(id)}/retry`),
  storage: () => api<StorageReportWire>('GET', '/v1/hub/storage'),
  scan: (deep: boolean) => api<JobAcceptedWire>('POST', '/v1/hub/scan', { deep }),
  gc: (dryRun: boolean) => api<JobAcceptedWire>('POST', '/v1/hub/gc', { dry_run: dryRun }),
  webhooks: () => api<{ items: WebhookWire[] }>('GET', '/v1/hub/webhooks'),
  addWebhook: (body: { url: string; events: string[]; secret?: string }) =>
    api<WebhookWire>('POST', '/v1/hub/webhooks', body),
  deleteWebhook: (id: string) => api<undefined>('DELETE', `/v1/hub/webhooks/${enc(id)}`),
  deliveries: (id: string, cursor?: string) =>
    api<Page<WebhookDeliveryWire>>('GET', `/v1/hub/webhooks/${enc(id)}/deliveries${query({ cursor })}`),
  redeliver: (id: string, deliveryId: string) =>
    api<WebhookDeliveryWire>('POST', `/v1/hub/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/redeliver`),
};

/** What the key may do: `read` < `write` < `admin`. */
export function scopeAllows(held: Scope | null, needed: Scope): boolean {
  const rank = { read: 0, write: 1, admin: 2 } as const;
  return held !== null && rank[held] >= rank[needed];
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
