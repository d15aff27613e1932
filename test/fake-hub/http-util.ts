import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { contentChunks, type FileContent } from './content.js';

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  /** Decoded pathname. */
  path: string;
  /** Raw path and query as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** 0 until the response head is written. */
  status: number;
  /** When the request arrived (epoch ms). */
  at: number;
  /**
   * Body bytes of a file handed to the socket so far: what the client received, and more when it
   * closed the response early (the rest was on its way).
   */
  bodyBytes?: number;
}

export interface FaultSpec {
  /** Matches a file whose repo path equals this or ends with `/${filePath}`. */
  filePath: string;
  /** How many matching GETs get the fault (default 1). */
  times?: number;
  /** Answer with this status (JSON error body) instead of the content. */
  status?: number;
  /** With 429/503: a Retry-After header. */
  retryAfterSeconds?: number;
  /** Send the head and this many body bytes, then destroy the socket. */
  dropAfterBytes?: number;
  /** Flip one byte in the middle of the body. */
  corrupt?: boolean;
  /** Send this many body bytes, then nothing more until the server closes. */
  stallAfterBytes?: number;
  /** Answer a Range request with 200 and the whole body, like a server that ignores Range. */
  ignoreRange?: boolean;
}

/** One request/response pair, with the recorder entry kept in step with what is sent. */
export class Ctx {
  readonly url: URL;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly rec: RecordedRequest,
    readonly origin: string,
    /** Added to every response head (rate-limit, request id...). */
    readonly baseHeaders: OutgoingHttpHeaders,
  ) {
    const raw = req.url ?? '/';
    // Concatenate rather than resolve, so a path like `//x` is not taken for a host.
    this.url = raw.startsWith('/') ? new URL(origin + raw) : new URL(raw, origin);
  }

  get isHead(): boolean {
    return this.req.method === 'HEAD';
  }

  writeHead(status: number, headers: OutgoingHttpHeaders): void {
    this.rec.status = status;
    this.res.writeHead(status, { ...this.baseHeaders, ...headers });
  }

  /** Sends a complete small body (omitted on HEAD, Content-Length kept). */
  send(status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    this.writeHead(status, { ...headers, 'Content-Length': buf.length });
    this.res.end(this.isHead ? undefined : buf);
  }
}

export function requestId(): string {
  const hex = randomBytes(16).toString('hex');
  return `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${hex.slice(0, 24)}`;
}

export const EXPOSE_HEADERS =
  'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash';

/** Headers HF puts on every API and resolve response. */
export function hubHeaders(
  bucket: 'api' | 'resolvers',
  remaining = bucket === 'api' ? 499 : 2999,
  reset = 172,
) {
  const quota = bucket === 'api' ? 500 : 3000;
  return {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': EXPOSE_HEADERS,
    'X-Request-Id': requestId(),
    'X-Powered-By': 'huggingface-moon',
    Vary: 'Origin, Accept',
    RateLimit: `"${bucket}";r=${remaining};t=${reset}`,
    'RateLimit-Policy': `"fixed window";"${bucket}";q=${quota};w=300`,
  };
}

export function sendJson(ctx: Ctx, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  ctx.send(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(body));
}

/** HF's error shape: X-Error-Code (when there is one), X-Error-Message and `{"error": msg}`. */
export function sendError(
  ctx: Ctx,
  status: number,
  code: string | undefined,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  // Header values must be printable ASCII; messages may echo a client's revision or path.
  const headerMessage = message.replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));
  const errHeaders: OutgoingHttpHeaders = { ...headers, 'X-Error-Message': headerMessage };
  if (code !== undefined) errHeaders['X-Error-Code'] = code;
  sendJson(ctx, status, { error: message }, errHeaders);
}

/** `true`, `True`, `1` (any case) are true. */
export function queryBool(v: string | null): boolean {
  return v !== null && /^(true|1)$/i.exec(v) !== null;
}

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/** Single byte ranges only; anything else (multi-range, junk) is ignored like many servers do. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' };
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

function sameEtag(a: string, b: string): boolean {
  return a.trim() === b || `"${a.trim()}"` === b;
}

export interface BodyBehaviour {
  fault?: FaultSpec | undefined;
  throttleBytesPerSecond?: number | undefined;
}

/**
 * Serves `content` with Range/If-Range support: 200, 206 or 416. `headers` are the metadata headers
 * (ETag included) sent on every outcome.
 */
export async function serveContent(
  ctx: Ctx,
  content: FileContent,
  size: number,
  etag: string,
  headers: OutgoingHttpHeaders,
  behaviour: BodyBehaviour = {},
): Promise<void> {
  const base: OutgoingHttpHeaders = {
    ...headers,
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'Content-Type': 'application/octet-stream',
  };
  const rawIfRange = ctx.req.headers['if-range'];
  const ifRange = Array.isArray(rawIfRange) ? rawIfRange[0] : rawIfRange;
  const ignored = ifRange !== undefined && !sameEtag(ifRange, etag);
  const rangeHeader = ignored || behaviour.fault?.ignoreRange ? undefined : ctx.req.headers.range;
  const range = parseRange(rangeHeader, size);
  if (range.kind === 'unsatisfiable') {
    ctx.send(416, { ...base, 'Content-Range': `bytes */${size}`, 'Content-Type': 'text/plain' }, '');
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  const head: OutgoingHttpHeaders = { ...base, 'Content-Length': end - start + 1 };
  if (range.kind === 'partial') head['Content-Range'] = `bytes ${start}-${end}/${size}`;
  ctx.writeHead(range.kind === 'partial' ? 206 : 200, head);
  if (ctx.isHead || end < start) {
    ctx.res.end();
    return;
  }
  await writeBody(ctx, contentChunks(content, start, end), end - start + 1, behaviour);
}

function waitWritable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function waitClosed(res: ServerResponse): Promise<void> {
  return res.destroyed || res.writableFinished ? Promise.resolve() : new Promise((r) => res.once('close', r));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Writes `length` bytes from `chunks`, applying throttling and drop/stall/corrupt faults. */
async function writeBody(
  { res, rec }: Ctx,
  chunks: Iterable<Buffer>,
  length: number,
  { fault, throttleBytesPerSecond: rate }: BodyBehaviour,
): Promise<void> {
  const cutAt = fault?.dropAfterBytes ?? fault?.stallAfterBytes;
  const corruptAt = fault?.corrupt ? Math.floor(length / 2) : -1;
  const piece = rate ? Math.max(1, Math.floor(rate / 20)) : Number.POSITIVE_INFINITY;
  const started = Date.now();
  let sent = 0;
  for (const chunk of chunks) {
    for (let off = 0; off < chunk.length; ) {
      if (res.destroyed) return;
      let take = Math.min(chunk.length - off, piece);
      if (cutAt !== undefined) take = Math.min(take, cutAt - sent);
      if (take <= 0) return cutBody(res, fault);
      let out = chunk.subarray(off, off + take);
      if (corruptAt >= sent && corruptAt < sent + take) {
        out = Buffer.from(out);
        out[corruptAt - sent] = (out[corruptAt - sent] ?? 0) ^ 0xff;
      }
      off += take;
      sent += take;
      rec.bodyBytes = sent;
      if (!res.write(out)) await waitWritable(res);
      if (rate) {
        const due = (sent / rate) * 1000 - (Date.now() - started);
        if (due > 0) await sleep(due);
      }
    }
  }
  res.end();
}

async function cutBody(res: ServerResponse, fault: FaultSpec | undefined): Promise<void> {
  res.flushHeaders();
  if (fault?.dropAfterBytes !== undefined) {
    // destroySoon flushes what was written (head included) and then closes: the client sees exactly N bytes.
    res.socket?.destroySoon();
    return;
  }
  await waitClosed(res);
}
