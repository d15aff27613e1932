import { type Ctx, queryBool, sendError, sendJson } from './http-util.js';
import { type Commit, type Entry, entryJson, resolveRevision, type StoredRepo } from './repos.js';
import { type HubState, revisionNotFound } from './state.js';

// HF pages /tree by 50 when expand=true (Py list_repo_tree docstring).
const EXPAND_PAGE_SIZE = 50;

export function modelInfo(state: HubState, ctx: Ctx, repoId: string, rev: string | undefined) {
  const repo = state.authorize(ctx, repoId, false);
  if (!repo) return;
  const revision = rev ?? repo.defaultBranch;
  const commit = resolveRevision(repo, revision);
  if (!commit) return revisionNotFound(ctx, revision);
  const blobs = queryBool(ctx.url.searchParams.get('blobs'));
  const siblings = [...commit.files.values()]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((f) => {
      if (!blobs) return { rfilename: f.path };
      const s: Record<string, unknown> = { rfilename: f.path, blobId: f.oid, size: f.size };
      if (f.lfs) s.lfs = { sha256: f.sha256, size: f.size, pointerSize: Buffer.byteLength(f.pointer ?? '') };
      return s;
    });
  const info: Record<string, unknown> = {
    _id: repo.mongoId,
    id: repo.id,
    private: repo.private,
    tags: [],
    downloads: 0,
    likes: 0,
    modelId: repo.id,
    author: repo.id.split('/')[0],
    sha: commit.sha,
    lastModified: commit.date,
    gated: repo.gated ? 'manual' : false,
    disabled: false,
    siblings,
    createdAt: repo.createdAt,
    usedStorage: usedStorage(repo),
  };
  const expand = ctx.url.searchParams.getAll('expand');
  if (expand.length === 0) return sendJson(ctx, 200, info);
  // With expand, HF returns only the listed properties (plus _id and id).
  const picked: Record<string, unknown> = { _id: info._id, id: info.id };
  for (const key of expand) if (key in info) picked[key] = info[key];
  sendJson(ctx, 200, picked);
}

function usedStorage(repo: StoredRepo): number {
  const seen = new Map<string, number>();
  for (const c of repo.commits.values()) for (const f of c.files.values()) seen.set(f.oid, f.size);
  let total = 0;
  for (const size of seen.values()) total += size;
  return total;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function listing(commit: Commit, sub: string, recursive: boolean): Entry[] {
  if (recursive) return commit.entries.filter((e) => sub === '' || e.path.startsWith(`${sub}/`));
  const direct = commit.entries.filter((e) => parentOf(e.path) === sub);
  // Observed HF order for non-recursive listings: directories, then files.
  return [...direct.filter((e) => e.type === 'directory'), ...direct.filter((e) => e.type === 'file')];
}

function decodeCursor(cursor: string | null): number | undefined {
  if (cursor === null) return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const offset = (parsed as { offset?: unknown } | null)?.offset;
    return typeof offset === 'number' && Number.isInteger(offset) && offset >= 0 ? offset : undefined;
  } catch {
    return undefined;
  }
}

export function tree(state: HubState, ctx: Ctx, repo: StoredRepo, rev: string, path: string) {
  const commit = resolveRevision(repo, rev);
  if (!commit) return revisionNotFound(ctx, rev);
  const sub = commit.dirs.has(path) ? path : path.replace(/\/+$/, '');
  if (sub !== '' && !commit.dirs.has(sub)) {
    return sendError(ctx, 404, 'EntryNotFound', `${sub} does not exist on "${rev}"`, {
      'X-Repo-Commit': commit.sha,
    });
  }
  const params = ctx.url.searchParams;
  const expand = queryBool(params.get('expand'));
  const offset = decodeCursor(params.get('cursor'));
  if (offset === undefined) return sendError(ctx, 400, undefined, 'Invalid cursor');
  const pageSize = expand ? Math.min(state.config.pageSize, EXPAND_PAGE_SIZE) : state.config.pageSize;
  const all = listing(commit, sub, queryBool(params.get('recursive')));
  const page = all.slice(offset, offset + pageSize);
  const headers: Record<string, string> = {};
  if (offset + pageSize < all.length) {
    const next = new URL(ctx.url.pathname + ctx.url.search, state.hubUrl);
    next.searchParams.set(
      'cursor',
      Buffer.from(JSON.stringify({ offset: offset + pageSize })).toString('base64url'),
    );
    headers.Link = `<${next.href}>; rel="next"`;
  }
  sendJson(
    ctx,
    200,
    page.map((e) => entryJson(repo, commit, e, expand)),
    headers,
  );
}

export async function readBody(ctx: Ctx, limit = 4 * 1024 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    total += buf.length;
    if (total > limit) throw new Error('request body too large');
    parts.push(buf);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Accepts JS's JSON body and Py's form-encoded `paths=a&paths=b&expand=false`. */
function parsePathsInfoBody(
  contentType: string,
  body: string,
): { paths: string[]; expand: boolean } | undefined {
  if (contentType.includes('application/json')) {
    try {
      const parsed = JSON.parse(body) as { paths?: unknown; expand?: unknown };
      const raw = typeof parsed.paths === 'string' ? [parsed.paths] : parsed.paths;
      if (!Array.isArray(raw) || !raw.every((p) => typeof p === 'string')) return undefined;
      return { paths: raw, expand: parsed.expand === true || queryBool(String(parsed.expand ?? '')) };
    } catch {
      return undefined;
    }
  }
  const form = new URLSearchParams(body);
  return { paths: form.getAll('paths'), expand: queryBool(form.get('expand')) };
}

export async function pathsInfo(state: HubState, ctx: Ctx, repoId: string, rev: string): Promise<void> {
  const body = await readBody(ctx);
  const repo = state.authorize(ctx, repoId, false);
  if (!repo) return;
  const commit = resolveRevision(repo, rev);
  if (!commit) return revisionNotFound(ctx, rev);
  const parsed = parsePathsInfoBody(ctx.req.headers['content-type'] ?? '', body);
  if (!parsed) return sendError(ctx, 400, undefined, 'Invalid body: expected {"paths": [...]}');
  const out: Record<string, unknown>[] = [];
  for (const path of new Set(parsed.paths)) {
    const file = commit.files.get(path);
    const entry: Entry | undefined = file
      ? { type: 'file', path, oid: file.oid, file }
      : commit.dirs.get(path);
    if (entry) out.push(entryJson(repo, commit, entry, parsed.expand));
  }
  sendJson(ctx, 200, out);
}

export function refs(state: HubState, ctx: Ctx, repoId: string): void {
  const repo = state.authorize(ctx, repoId, false);
  if (!repo) return;
  const branches = [...repo.branches].map(([name, sha]) => ({
    name,
    ref: `refs/heads/${name}`,
    targetCommit: sha,
  }));
  sendJson(ctx, 200, { branches, converts: [], tags: [] });
}

export function authCheck(state: HubState, ctx: Ctx, repoId: string): void {
  if (state.authorize(ctx, repoId, true)) sendJson(ctx, 200, {});
}

export function whoami(state: HubState, ctx: Ctx) {
  const auth = ctx.req.headers.authorization;
  if (auth !== `Bearer ${state.config.token}`) {
    return sendError(
      ctx,
      401,
      undefined,
      auth ? 'Invalid credentials in Authorization header' : 'Unauthorized',
    );
  }
  sendJson(ctx, 200, {
    type: 'user',
    id: '000000000000000000000001',
    name: 'fake-user',
    fullname: 'Fake User',
  });
}
