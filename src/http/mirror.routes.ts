import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { Invalid } from '../errors.js';
import {
  MirrorNotFound,
  type MirrorRepo,
  type MirrorService,
  mention,
  revisionNotFound,
  servesRevision,
} from '../services/mirror.service.js';
import { buildTree, listDirectory, type RepoTree, type TreeEntry } from '../services/mirror-tree.js';
import { handleMirrorError } from './mirror-errors.js';
import { presentModelInfo, presentTreeEntry } from './mirror-presenters.js';
import {
  pathTail,
  queryFlag,
  queryList,
  type RepoParams,
  repoIdOf,
  repoSegments,
  requestOrigin,
  safeRepoPath,
  splitRevision,
} from './mirror-request.js';
import { resolveFile } from './mirror-resolve.js';

/**
 * The Hugging Face–compatible face of the hub (`HF_ENDPOINT=http://hub:8000`), answered from what
 * it holds (and, pull-through, what it fetches on demand): model info, `/tree`, `/paths-info` and
 * `/resolve` for synced repos, at their synced commit. Every route needs a `read` key once keys
 * exist (sent as the HF token) and answers errors the hub's way (mirror-errors.ts). They are left
 * out of the OpenAPI document: they follow HF's API, not this one's. Each route exists for
 * `owner/name` and for a legacy one-part id.
 */
export interface MirrorDeps {
  mirror: MirrorService;
  /** `/tree` entries per page (HF: 1000, and 50 with `expand`). */
  treePageSize?: number;
  treeExpandPageSize?: number;
}

const EXPOSED_HEADERS =
  'X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag';
/** More paths than this in one paths-info request are looked up in the whole tree at once. */
const PER_PATH_LOOKUPS = 20;
const MAX_PATHS = 10_000;

const REPO_FORMS = ['/:namespace/:repo', '/:repo'] as const;
const ROUTE: RouteShorthandOptions = { config: { scope: 'read' }, schema: { hide: true } };

export function mirrorRoutes(deps: MirrorDeps) {
  const pageSize = deps.treePageSize ?? 1000;
  const expandPageSize = deps.treeExpandPageSize ?? 50;

  return async (app: FastifyInstance) => {
    app.setErrorHandler(handleMirrorError);
    // huggingface_hub posts paths-info as a form (`paths=a&paths=b&expand=false`).
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        const form = new URLSearchParams(body as string);
        const fields: Record<string, string[]> = {};
        for (const key of new Set(form.keys())) fields[key] = form.getAll(key);
        done(null, fields);
      },
    );
    app.addHook('onSend', async (_request, reply) => {
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    });

    for (const form of REPO_FORMS) {
      const api = `/api/models${form}`;
      // The fixed segments before a route's `*`: api, models, the repo id, the endpoint name.
      const skip = (request: FastifyRequest) => 3 + repoSegments(request.params as RepoParams);

      app.get(api, ROUTE, (request) => modelInfo(request, undefined));
      app.get(`${api}/revision/*`, ROUTE, (request) =>
        modelInfo(request, pathTail(request, skip(request)).join('/')),
      );
      app.get(`${api}/tree/*`, ROUTE, (request, reply) =>
        tree(request, reply, pathTail(request, skip(request))),
      );
      app.post(`${api}/paths-info/*`, ROUTE, (request) =>
        pathsInfo(request, pathTail(request, skip(request))),
      );
      app.route({
        ...ROUTE,
        method: ['GET', 'HEAD'],
        url: `${form}/resolve/*`,
        exposeHeadRoute: false,
        handler: async (request, reply) => {
          const params = request.params as RepoParams;
          const segments = pathTail(request, repoSegments(params) + 1);
          const repo = await deps.mirror.repo(repoIdOf(params), segments[0]);
          const { path } = splitRevision(repo, segments, true);
          reply.header('x-repo-commit', repo.commit);
          return resolveFile(request, reply, await deps.mirror.openFile(repo, safeRepoPath(path)));
        },
      });
    }
  };

  async function modelInfo(request: FastifyRequest, revision: string | undefined) {
    const repo = await deps.mirror.repo(repoIdOf(request.params as RepoParams), revision);
    if (revision !== undefined && !servesRevision(repo, revision)) throw revisionNotFound(revision, repo);
    const query = request.query as Record<string, unknown>;
    return presentModelInfo(repo, await deps.mirror.files(repo), {
      blobs: queryFlag(query.blobs),
      expand: queryList(query.expand),
    });
  }

  async function tree(request: FastifyRequest, reply: FastifyReply, segments: string[]) {
    const repo = await deps.mirror.repo(repoIdOf(request.params as RepoParams), segments[0]);
    const { revision, path } = splitRevision(repo, segments, false);
    const directory = path.replace(/\/+$/, '');
    if (directory !== '') safeRepoPath(directory);
    const query = request.query as Record<string, unknown>;
    const expand = queryFlag(query.expand);
    const size = expand ? expandPageSize : pageSize;
    const offset = readCursor(queryList(query.cursor).at(-1), repo);

    const whole = buildTree(await deps.mirror.files(repo));
    if (directory !== '' && whole.byPath.get(directory)?.type !== 'directory') {
      throw new MirrorNotFound(
        'ARTIFACT_NOT_FOUND',
        `${mention(directory)} does not exist on "${mention(revision)}"`,
        repo.commit,
      );
    }
    const listing = listDirectory(whole, directory, queryFlag(query.recursive));
    if (offset + size < listing.length) {
      const next = new URL(request.url, requestOrigin(request));
      next.searchParams.set('cursor', writeCursor(repo, offset + size));
      reply.header('link', `<${next.href}>; rel="next"`);
    }
    return listing.slice(offset, offset + size).map((e) => presentTreeEntry(e, repo, expand));
  }

  async function pathsInfo(request: FastifyRequest, segments: string[]) {
    const revision = segments.join('/');
    const repo = await deps.mirror.repo(repoIdOf(request.params as RepoParams), revision);
    if (!servesRevision(repo, revision)) throw revisionNotFound(revision, repo);
    const { paths, expand } = readPathsInfoBody(request.body);

    let whole: RepoTree | undefined;
    const wholeTree = async () => {
      whole ??= buildTree(await deps.mirror.files(repo));
      return whole;
    };
    const found: TreeEntry[] = [];
    for (const path of paths) {
      let entry: TreeEntry | undefined;
      if (paths.length <= PER_PATH_LOOKUPS) {
        const file = await deps.mirror.file(repo, path);
        if (file) entry = { type: 'file', path, file };
      }
      entry ??= (await wholeTree()).byPath.get(path);
      if (entry) found.push(entry);
    }
    return found.map((e) => presentTreeEntry(e, repo, expand));
  }
}

/** `{"paths": [...], "expand": true}` (JSON) or the same fields from a form; paths deduplicated. */
function readPathsInfoBody(body: unknown): { paths: string[]; expand: boolean } {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const raw = typeof fields.paths === 'string' ? [fields.paths] : fields.paths;
  if (!Array.isArray(raw) || !raw.every((p): p is string => typeof p === 'string')) {
    throw new Invalid('VALIDATION_FAILED', 'Invalid body: expected {"paths": ["<path>", ...]}');
  }
  if (raw.length > MAX_PATHS) {
    throw new Invalid('VALIDATION_FAILED', `Invalid body: at most ${MAX_PATHS} paths per request`);
  }
  const expand = fields.expand === true || queryFlag(fields.expand);
  return { paths: [...new Set(raw)].map(safeRepoPath), expand };
}

/** Opaque to clients: where the next page starts, and which commit the listing is of. */
function writeCursor(repo: MirrorRepo, offset: number): string {
  return Buffer.from(JSON.stringify({ commit: repo.commit, offset })).toString('base64url');
}

function readCursor(cursor: string | undefined, repo: MirrorRepo): number {
  if (cursor === undefined) return 0;
  let parsed: { commit?: unknown; offset?: unknown } | null = null;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // Reported below.
  }
  const offset = parsed?.offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new Invalid('VALIDATION_FAILED', 'Invalid cursor');
  }
  if (parsed?.commit !== repo.commit) {
    throw new Invalid(
      'VALIDATION_FAILED',
      `Invalid cursor: ${repo.repoId} moved to commit ${repo.commit} since this listing started; list it again`,
    );
  }
  return offset;
}
