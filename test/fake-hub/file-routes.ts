import type { OutgoingHttpHeaders } from 'node:http';
import { type Ctx, type FaultSpec, sendError, sendJson, serveContent } from './http-util.js';
import type { Commit, StoredFile, StoredRepo } from './repos.js';
import type { HubState } from './state.js';

export type FileRoute = 'resolve' | 'resolve-cache' | 'raw';

/** Path segments encoded, slashes kept; dot or empty segments would be normalized away by clients, so those get %2F. */
function encodePath(path: string): string {
  const segs = path.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) return encodeURIComponent(path);
  return segs.map(encodeURIComponent).join('/');
}

function sendFault(ctx: Ctx, fault: FaultSpec, status: number, headers: OutgoingHttpHeaders): void {
  const extra: OutgoingHttpHeaders = { ...headers };
  if (fault.retryAfterSeconds !== undefined) {
    extra['Retry-After'] = String(fault.retryAfterSeconds);
    if (status === 429) extra.RateLimit = `"resolvers";r=0;t=${fault.retryAfterSeconds}`;
  }
  const message = status === 429 ? 'Too Many Requests' : `Injected fault: HTTP ${status}`;
  sendError(ctx, status, undefined, message, extra);
}

/** A fault for this GET, if one matches; a status fault is answered here (returns 'sent'). */
function faultFor(state: HubState, ctx: Ctx, paths: Iterable<string>, headers: OutgoingHttpHeaders) {
  if (ctx.req.method !== 'GET') return undefined;
  const fault = state.takeFault(paths);
  if (fault?.status !== undefined) {
    sendFault(ctx, fault, fault.status, headers);
    return 'sent' as const;
  }
  return fault;
}

/** `/{repo}/resolve/{rev}/{path}`, `/{repo}/raw/{rev}/{path}` and `/api/resolve-cache/models/{repo}/{commit}/{path}`. */
export async function serveFile(
  state: HubState,
  ctx: Ctx,
  route: FileRoute,
  repo: StoredRepo,
  commit: Commit,
  path: string,
): Promise<void> {
  const base: OutgoingHttpHeaders = { 'X-Repo-Commit': commit.sha };
  const file = commit.files.get(path);
  if (!file) return sendError(ctx, 404, 'EntryNotFound', 'Entry not found', base);

  if (route === 'raw') {
    const body = file.pointer ?? file.content;
    return serveContent(
      ctx,
      body,
      file.pointer ? Buffer.byteLength(file.pointer) : file.size,
      `"${file.oid}"`,
      base,
    );
  }
  if (file.lfs && route === 'resolve') return redirectToCdn(state, ctx, file, base);
  if (route === 'resolve' && state.config.smallFileRedirect) {
    const location = `/api/resolve-cache/models/${repo.id}/${commit.sha}/${encodePath(path)}?etag=%22${file.gitSha1}%22`;
    const body = `Temporary Redirect. Redirecting to ${location}`;
    const headers = {
      ...base,
      Location: location,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'text/plain; charset=utf-8',
    };
    return ctx.send(307, headers, body);
  }
  const fault = faultFor(state, ctx, [file.path], base);
  if (fault === 'sent') return;
  await serveContent(ctx, file.content, file.size, `"${file.gitSha1}"`, base, { fault });
}

function redirectToCdn(state: HubState, ctx: Ctx, file: StoredFile, base: OutgoingHttpHeaders): void {
  const location = state.signedCdnUrl(file.sha256);
  ctx.send(
    302,
    {
      ...base,
      Location: location,
      'X-Linked-Etag': `"${file.sha256}"`,
      'X-Linked-Size': String(file.size),
      // HF's ETag on the 302 is not the content hash; clients must prefer X-Linked-Etag.
      ETag: `"${file.oid}"`,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'text/plain; charset=utf-8',
    },
    `Found. Redirecting to ${location}`,
  );
}

function s3Error(ctx: Ctx, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  ctx.send(status, { 'Content-Type': 'application/xml' }, body);
}

/** The CDN: `GET|HEAD /repos/<2hex>/<2hex>/<sha256>?Expires=&Signature=`. */
export async function serveCdn(state: HubState, ctx: Ctx): Promise<void> {
  const m = /^\/repos\/([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(ctx.url.pathname);
  if ((ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') || !m) {
    return s3Error(ctx, 403, 'AccessDenied', 'Access Denied');
  }
  const sha256 = m[3] ?? '';
  const params = ctx.url.searchParams;
  const verdict = state.checkSignature(sha256, params.get('Expires'), params.get('Signature'));
  if (verdict === 'expired') return s3Error(ctx, 403, 'AccessDenied', 'Request has expired');
  const blob = state.blobs.get(sha256);
  if (verdict === 'invalid' || m[1] !== sha256.slice(0, 2) || m[2] !== sha256.slice(2, 4)) {
    return s3Error(ctx, 403, 'AccessDenied', 'Access Denied');
  }
  if (!blob) return s3Error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
  const name = blob.file.path.slice(blob.file.path.lastIndexOf('/') + 1);
  const headers: OutgoingHttpHeaders = {
    'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${name.replace(/[^\x20-\x7e]|"/g, '_')}";`,
    'Last-Modified': 'Wed, 01 Jan 2025 00:00:00 GMT',
    'X-Cache': 'Miss from cloudfront',
    Via: '1.1 fake-hub.cloudfront.net (CloudFront)',
  };
  const fault = faultFor(state, ctx, blob.paths, headers);
  if (fault === 'sent') return;
  await serveContent(ctx, blob.file.content, blob.file.size, `"${sha256}"`, headers, {
    fault,
    throttleBytesPerSecond: state.config.throttleBytesPerSecond,
  });
}

export function notFound(ctx: Ctx): void {
  sendJson(ctx, 404, { error: 'Sorry, we can’t find the page you are looking for.' });
}
