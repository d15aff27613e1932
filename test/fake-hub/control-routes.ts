import { readBody } from './api-routes.js';
import type { Ctx, FaultSpec } from './http-util.js';
import { sendError, sendJson } from './http-util.js';
import type { HubState } from './state.js';

/**
 * `/_control/…` on the hub port: change the fake hub while it runs (demos, manual testing).
 * Not part of the Hugging Face API.
 * - `GET /_control`: the repos, the throttle and the faults still armed.
 * - `PUT /_control/throttle` `{"bytes_per_second": 2097152}` (or `null`): the CDN's rate per response.
 * - `POST /_control/faults` `{"file_path": "model.safetensors", "status": 503, "times": 2}`: the next
 *   GETs of that file fail that way (also `drop_after_bytes`, `stall_after_bytes`, `corrupt`,
 *   `ignore_range`, `retry_after_seconds`).
 * - `DELETE /_control/faults`: disarm them all.
 */
export async function handleControl(state: HubState, ctx: Ctx, segs: string[]): Promise<void> {
  const method = ctx.req.method;
  const what = segs[1];
  if (segs.length === 1 && method === 'GET') {
    return sendJson(ctx, 200, {
      repos: [...state.repos.keys()].sort(),
      throttle_bytes_per_second: state.config.throttleBytesPerSecond ?? null,
      faults: state.armedFaults().map(({ spec, remaining }) => ({ ...faultToWire(spec), remaining })),
    });
  }
  if (segs.length === 2 && what === 'throttle' && method === 'PUT') {
    const body = await readJsonObject(ctx);
    const rate = body?.bytes_per_second;
    if (!(rate === null || (Number.isInteger(rate) && (rate as number) > 0))) {
      return sendError(ctx, 400, undefined, 'Expected {"bytes_per_second": <positive integer> | null}');
    }
    state.config.throttleBytesPerSecond = rate === null ? undefined : (rate as number);
    return sendJson(ctx, 200, { throttle_bytes_per_second: rate });
  }
  if (segs.length === 2 && what === 'faults' && method === 'POST') {
    const spec = faultFromWire(await readJsonObject(ctx));
    if (typeof spec === 'string') return sendError(ctx, 400, undefined, spec);
    state.addFault(spec);
    return sendJson(ctx, 201, faultToWire(spec));
  }
  if (segs.length === 2 && what === 'faults' && method === 'DELETE') {
    state.clearFaults();
    return sendJson(ctx, 200, { faults: [] });
  }
  return sendError(ctx, 404, undefined, 'Unknown control route: see GET /_control and the fake hub README');
}

async function readJsonObject(ctx: Ctx): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readBody(ctx));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const INTEGER_FIELDS = {
  times: 'times',
  status: 'status',
  retry_after_seconds: 'retryAfterSeconds',
  drop_after_bytes: 'dropAfterBytes',
  stall_after_bytes: 'stallAfterBytes',
} as const;
const FLAG_FIELDS = { corrupt: 'corrupt', ignore_range: 'ignoreRange' } as const;

/** A fault from its JSON form, or what is wrong with it. */
function faultFromWire(body: Record<string, unknown> | undefined): FaultSpec | string {
  if (!body || typeof body.file_path !== 'string' || body.file_path === '') {
    return 'Expected a JSON object with "file_path" (a repo path, or its last segments)';
  }
  const spec: FaultSpec = { filePath: body.file_path };
  for (const [wire, field] of Object.entries(INTEGER_FIELDS)) {
    const value = body[wire];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || (value as number) < 0) return `"${wire}" must be a whole number`;
    spec[field] = value as number;
  }
  for (const [wire, field] of Object.entries(FLAG_FIELDS)) {
    const value = body[wire];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') return `"${wire}" must be true or false`;
    spec[field] = value;
  }
  return spec;
}

function faultToWire(spec: FaultSpec): Record<string, unknown> {
  const wire: Record<string, unknown> = { file_path: spec.filePath };
  for (const [name, field] of Object.entries({ ...INTEGER_FIELDS, ...FLAG_FIELDS })) {
    if (spec[field] !== undefined) wire[name] = spec[field];
  }
  return wire;
}
