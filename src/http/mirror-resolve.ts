import type { FastifyReply, FastifyRequest } from 'fastify';
import { mention, type OpenedFile } from '../services/mirror.service.js';
import { type ByteRange, parseByteRange } from './byte-range.js';
import { sendHfError } from './mirror-errors.js';

/**
 * `HEAD|GET /{repo}/resolve/{rev}/{path}`: the stored bytes, answered 200 directly (no redirect),
 * with what HF clients read off a resolve: `X-Repo-Commit`, a content-derived `ETag` (LFS sha256,
 * else git blob sha1), `X-Linked-Etag`/`X-Linked-Size` for LFS files, and byte ranges (206/416;
 * `bytes=0-0` is how the JS client learns a size). No Xet signal is ever sent, so Xet-capable
 * clients stay on plain HTTP through this hub.
 */
export async function resolveFile(
  request: FastifyRequest,
  reply: FastifyReply,
  opened: OpenedFile,
): Promise<FastifyReply> {
  const { file, sizeBytes } = opened;
  const etag = `"${file.etag ?? file.storedSha256}"`;
  reply.header('etag', etag).header('accept-ranges', 'bytes').type('application/octet-stream');
  if (file.lfsSha256 !== null) {
    reply.header('x-linked-etag', `"${file.lfsSha256}"`).header('x-linked-size', String(sizeBytes));
  }

  // A range of another version of the file (If-Range names another ETag) is not served: all of it is.
  const ifRange = request.headers['if-range'];
  const rangeHeader =
    ifRange === undefined || String(ifRange).trim() === etag ? request.headers.range : undefined;
  // No range of an empty file is satisfiable, yet a 416 would fail clients that learn the size
  // from `bytes=0-0`: all of it (nothing) is served, with the total in Content-Range.
  const range: ByteRange = sizeBytes === 0 ? { kind: 'full' } : parseByteRange(rangeHeader, sizeBytes);
  if (range.kind === 'unsatisfiable') {
    await opened.close();
    const message = `Range ${mention(rangeHeader ?? '')} is not satisfiable: the file has ${sizeBytes} bytes`;
    return sendHfError(reply, 416, undefined, message, { 'content-range': `bytes */${sizeBytes}` });
  }
  const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, sizeBytes - 1];
  reply.header('content-length', String(end - start + 1));
  if (range.kind === 'partial') {
    reply.status(206).header('content-range', `bytes ${start}-${end}/${sizeBytes}`);
  } else if (rangeHeader !== undefined && sizeBytes === 0) {
    reply.header('content-range', 'bytes */0');
  }
  if (request.method === 'HEAD' || sizeBytes === 0) {
    await opened.close();
    return reply.send();
  }
  return reply.send(opened.stream(start, end));
}
