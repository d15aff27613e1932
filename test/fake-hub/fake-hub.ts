/**
 * A fake Hugging Face Hub for tests: two real HTTP servers on loopback ports.
 *
 * - The hub (`url`, 127.0.0.1) answers like huggingface.co does for models (see /work/shared/HF-API.md):
 *   `GET /api/models/{id}[/revision/{rev}]`, `GET /api/models/{id}/tree/{rev}[/{path}]` (paginated with an absolute
 *   `Link: <…>; rel="next"`), `POST /api/models/{id}/paths-info/{rev}` (JSON or form body),
 *   `GET /api/models/{id}/refs`, `GET /api/models/{id}/auth-check`, `GET /api/whoami-v2`,
 *   `HEAD|GET /{id}/resolve/{rev}/{path}` (non-LFS: 200 with Range, or a relative 307 to
 *   `/api/resolve-cache/models/{id}/{commit}/{path}`; LFS: 302 to a signed CDN URL with X-Linked-Etag/Size) and
 *   `HEAD|GET /{id}/raw/{rev}/{path}` (the git object: the pointer for LFS files). Errors carry HF's
 *   `X-Error-Code`/`X-Error-Message` and `{"error": msg}`; auth follows HF (401 anonymous vs 404 with a token).
 * - The CDN (`cdnUrl`, "localhost" so it is a different origin) serves LFS content by sha256 behind an expiring
 *   HMAC signature, with 206/416 Range semantics, If-Range and optional per-response throttling.
 *
 * Content is generated on the fly (see content.ts), so multi-GB files cost no disk or memory. Every request on
 * both servers is recorded, and faults (status, drop, stall, corrupt) can be injected per file path.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authCheck, modelInfo, pathsInfo, refs, tree, whoami } from './api-routes.js';
import { contentBytes } from './content.js';
import { handleControl } from './control-routes.js';
import { type FileRoute, notFound, serveCdn, serveFile } from './file-routes.js';
import { Ctx, type FaultSpec, hubHeaders, type RecordedRequest, sendError } from './http-util.js';
import {
  type Commit,
  commitFiles,
  type FakeFileSpec,
  type FakeRepoSpec,
  newRepo,
  resolveRevision,
  type StoredRepo,
} from './repos.js';
import { HubState, revisionNotFound } from './state.js';

export type { FileContent, GeneratedContent } from './content.js';
export type { FaultSpec, RecordedRequest } from './http-util.js';
export type { FakeFileSpec, FakeRepoSpec } from './repos.js';

export interface FakeHubOptions {
  /** Entries per /tree page (default 1000; with expand=true at most 50, like HF). */
  pageSize?: number;
  /** The one valid HF token (default 'hf_test_token'). */
  token?: string;
  /** CDN body rate per response (default unlimited). */
  throttleBytesPerSecond?: number;
  /** Small files: 307 to /api/resolve-cache/… like HF since 2025 (default false: 200 directly). */
  smallFileRedirect?: boolean;
  /** Lifetime of signed CDN URLs (default 3600; negative gives already-expired URLs). */
  signedUrlTtlSeconds?: number;
  /** Hub port (default 0: random). */
  port?: number;
  /** CDN port (default 0: random). */
  cdnPort?: number;
}

export interface FakeHub {
  url: string;
  cdnUrl: string;
  token: string;
  addRepo(spec: FakeRepoSpec): Promise<{ commit: string }>;
  pushCommit(repoId: string, files: FakeFileSpec[], branch?: string): Promise<{ commit: string }>;
  fileInfo(
    repoId: string,
    path: string,
    rev?: string,
  ): Promise<{ sha256: string; gitSha1: string; size: number; lfs: boolean }>;
  expectedBytes(repoId: string, path: string, rev?: string): Promise<Buffer>;
  addFault(f: FaultSpec): void;
  clearFaults(): void;
  /** The CDN's rate per response from now on (undefined: unlimited). */
  setThrottle(bytesPerSecond: number | undefined): void;
  requests: RecordedRequest[];
  resetRequests(): void;
  close(): Promise<void>;
}

const dec = (s: string): string => decodeURIComponent(s);
const repoIdOf = (owner: string | undefined, name: string | undefined) =>
  `${dec(owner ?? '')}/${dec(name ?? '')}`;
const isRead = (method: string | undefined) => method === 'GET' || method === 'HEAD';

/** Splits raw `{rev}/{path}` segments; a raw slashed rev (`refs/pr/1`, `feature/x`) wins when it exists. */
function splitRevision(repo: StoredRepo, raw: string[], needPath: boolean): { rev: string; path: string } {
  for (let k = 1; k <= raw.length - (needPath ? 1 : 0); k++) {
    const rev = dec(raw.slice(0, k).join('/'));
    if (resolveRevision(repo, rev)) return { rev, path: dec(raw.slice(k).join('/')) };
  }
  // Unknown rev: report `refs/pr/N`-style revs whole, like HF's "Invalid rev id: refs/pr/1".
  const k = raw[0] === 'refs' && raw.length >= (needPath ? 4 : 3) ? 3 : 1;
  return { rev: dec(raw.slice(0, k).join('/')), path: dec(raw.slice(k).join('/')) };
}

async function handleHub(state: HubState, ctx: Ctx, segs: string[]): Promise<void> {
  const method = ctx.req.method;
  if (segs[0] === 'api') {
    if (segs[1] === 'whoami-v2' && segs.length === 2) return whoami(state, ctx);
    if (segs[1] === 'resolve-cache' && segs[2] === 'models' && segs.length >= 7 && isRead(method)) {
      const repo = state.authorize(ctx, repoIdOf(segs[3], segs[4]), true);
      if (!repo) return;
      const rev = dec(segs[5] ?? '');
      const commit = resolveRevision(repo, rev);
      if (!commit) return revisionNotFound(ctx, rev);
      return serveFile(state, ctx, 'resolve-cache', repo, commit, dec(segs.slice(6).join('/')));
    }
    if (segs[1] === 'models' && segs.length >= 4) {
      const repoId = repoIdOf(segs[2], segs[3]);
      const rest = segs.slice(4);
      const kind = rest[0];
      const revRest = () => dec(rest.slice(1).join('/'));
      if (method === 'GET' && rest.length === 0) return modelInfo(state, ctx, repoId, undefined);
      if (method === 'GET' && kind === 'revision' && rest.length >= 2)
        return modelInfo(state, ctx, repoId, revRest());
      if (method === 'POST' && kind === 'paths-info' && rest.length >= 2)
        return pathsInfo(state, ctx, repoId, revRest());
      if (method === 'GET' && kind === 'refs' && rest.length === 1) return refs(state, ctx, repoId);
      if (method === 'GET' && kind === 'auth-check' && rest.length === 1)
        return authCheck(state, ctx, repoId);
      if (method === 'GET' && kind === 'tree' && rest.length >= 2) {
        const repo = state.authorize(ctx, repoId, false);
        if (!repo) return;
        const { rev, path } = splitRevision(repo, rest.slice(1), false);
        return tree(state, ctx, repo, rev, path);
      }
    }
    return notFound(ctx);
  }
  const route = segs[2];
  if (segs.length >= 5 && (route === 'resolve' || route === 'raw') && isRead(method)) {
    const repo = state.authorize(ctx, repoIdOf(segs[0], segs[1]), true);
    if (!repo) return;
    const { rev, path } = splitRevision(repo, segs.slice(3), true);
    const commit = resolveRevision(repo, rev);
    if (!commit) return revisionNotFound(ctx, rev);
    return serveFile(state, ctx, route satisfies FileRoute, repo, commit, path);
  }
  return notFound(ctx);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Also kills keep-alive and stalled sockets, which server.close() alone would wait for.
    server.closeAllConnections();
  });
}

export async function startFakeHub(opts: FakeHubOptions = {}): Promise<FakeHub> {
  const token = opts.token ?? 'hf_test_token';
  const state = new HubState(
    {
      pageSize: opts.pageSize ?? 1000,
      token,
      throttleBytesPerSecond: opts.throttleBytesPerSecond,
      smallFileRedirect: opts.smallFileRedirect ?? false,
      signedUrlTtlSeconds: opts.signedUrlTtlSeconds ?? 3600,
    },
    randomBytes(32),
  );
  const requests: RecordedRequest[] = [];

  const handler = (kind: 'hub' | 'cdn') => (req: IncomingMessage, res: ServerResponse) => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    let path = rawPath;
    try {
      path = dec(rawPath);
    } catch {
      // Recorded raw; the route answers 400.
    }
    const rec: RecordedRequest = {
      server: kind,
      method: req.method ?? 'GET',
      path,
      url: rawUrl,
      headers: { ...req.headers },
      status: 0,
      at: Date.now(),
    };
    requests.push(rec);
    const resolvers =
      /^\/[^/]+\/[^/]+\/(resolve|raw)\//.test(rawPath) || rawPath.startsWith('/api/resolve-cache/');
    const base = kind === 'cdn' ? {} : hubHeaders(resolvers ? 'resolvers' : 'api');
    let ctx: Ctx;
    try {
      ctx = new Ctx(req, res, rec, kind === 'hub' ? state.hubUrl : state.cdnUrl, base);
    } catch {
      rec.status = 400;
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('Bad Request');
      return;
    }
    const work = async () => {
      if (kind === 'cdn') return serveCdn(state, ctx);
      const segs = rawPath.split('/').slice(1);
      if (segs[0] === '_control') return handleControl(state, ctx, segs);
      return handleHub(state, ctx, segs);
    };
    work().catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof URIError) return sendError(ctx, 400, undefined, 'Malformed percent-encoding in URL');
      sendError(ctx, 500, undefined, `fake hub error: ${String(err)}`);
    });
  };

  const hubServer = createServer(handler('hub'));
  const cdnServer = createServer(handler('cdn'));
  // "localhost" may resolve to ::1 first; a second listener on the same port keeps the CDN reachable either way.
  const cdnServer6 = createServer(handler('cdn'));
  const hubPort = await listen(hubServer, opts.port ?? 0, '127.0.0.1');
  const cdnPort = await listen(cdnServer, opts.cdnPort ?? 0, '127.0.0.1');
  await listen(cdnServer6, cdnPort, '::1').catch(() => undefined);
  state.hubUrl = `http://127.0.0.1:${hubPort}`;
  state.cdnUrl = `http://localhost:${cdnPort}`;

  const repoOf = (repoId: string): StoredRepo => {
    const repo = state.repos.get(repoId);
    if (!repo) throw new Error(`fake hub: unknown repo ${repoId}`);
    return repo;
  };
  const commitOf = (repoId: string, rev?: string): Commit => {
    const repo = repoOf(repoId);
    const commit = resolveRevision(repo, rev ?? repo.defaultBranch);
    if (!commit) throw new Error(`fake hub: unknown revision ${rev} of ${repoId}`);
    return commit;
  };
  const fileOf = (repoId: string, path: string, rev?: string) => {
    const file = commitOf(repoId, rev).files.get(path);
    if (!file) throw new Error(`fake hub: no file ${path} in ${repoId}@${rev ?? 'default'}`);
    return file;
  };
  const push = async (repo: StoredRepo, files: FakeFileSpec[], branch: string) => {
    const commit = await commitFiles(repo, files, branch);
    for (const f of commit.files.values()) if (f.lfs) state.indexBlob(f);
    return { commit: commit.sha };
  };

  return {
    url: state.hubUrl,
    cdnUrl: state.cdnUrl,
    token,
    requests,
    async addRepo(spec) {
      if (!/^[^/]+\/[^/]+$/.test(spec.id))
        throw new Error(`fake hub: repo id must be owner/name: ${spec.id}`);
      if (state.repos.has(spec.id)) throw new Error(`fake hub: repo ${spec.id} already exists`);
      const repo = newRepo(spec);
      const result = await push(repo, spec.files, repo.defaultBranch);
      state.repos.set(spec.id, repo);
      return result;
    },
    pushCommit: (repoId, files, branch) => {
      const repo = repoOf(repoId);
      return push(repo, files, branch ?? repo.defaultBranch);
    },
    async fileInfo(repoId, path, rev) {
      const f = fileOf(repoId, path, rev);
      return { sha256: f.sha256, gitSha1: f.gitSha1, size: f.size, lfs: f.lfs };
    },
    async expectedBytes(repoId, path, rev) {
      return contentBytes(fileOf(repoId, path, rev).content);
    },
    addFault: (f) => state.addFault(f),
    clearFaults: () => state.clearFaults(),
    setThrottle: (bytesPerSecond) => {
      state.config.throttleBytesPerSecond = bytesPerSecond;
    },
    resetRequests: () => {
      // Emptied in place so references to `hub.requests` stay live.
      requests.length = 0;
    },
    async close() {
      state.clearFaults();
      await Promise.all([closeServer(hubServer), closeServer(cdnServer), closeServer(cdnServer6)]);
    },
  };
}
