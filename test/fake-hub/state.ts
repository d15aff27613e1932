import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Ctx, type FaultSpec, sendError } from './http-util.js';
import type { StoredFile, StoredRepo } from './repos.js';

export interface HubConfig {
  pageSize: number;
  token: string;
  throttleBytesPerSecond: number | undefined;
  smallFileRedirect: boolean;
  signedUrlTtlSeconds: number;
}

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
}

/** Everything the routes of both servers share. */
export class HubState {
  readonly repos = new Map<string, StoredRepo>();
  /** sha256 → one stored copy of that content plus every repo path that has it (for CDN faults). */
  readonly blobs = new Map<string, { file: StoredFile; paths: Set<string> }>();
  hubUrl = '';
  cdnUrl = '';
  private faults: ActiveFault[] = [];

  constructor(
    readonly config: HubConfig,
    private readonly secret: Buffer,
  ) {}

  indexBlob(file: StoredFile): void {
    const known = this.blobs.get(file.sha256);
    if (known) known.paths.add(file.path);
    else this.blobs.set(file.sha256, { file, paths: new Set([file.path]) });
  }

  addFault(spec: FaultSpec): void {
    this.faults.push({ spec, remaining: spec.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The faults that still have uses left. */
  armedFaults(): { spec: FaultSpec; remaining: number }[] {
    return this.faults.filter((f) => f.remaining > 0).map((f) => ({ ...f }));
  }

  /** Consumes one use of the first fault matching any of `paths`. */
  takeFault(paths: Iterable<string>): FaultSpec | undefined {
    const list = [...paths];
    const active = this.faults.find(
      (f) => f.remaining > 0 && list.some((p) => p === f.spec.filePath || p.endsWith(`/${f.spec.filePath}`)),
    );
    if (!active) return undefined;
    active.remaining -= 1;
    return active.spec;
  }

  private signature(sha256: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${sha256}:${expires}`).digest('base64url');
  }

  signedCdnUrl(sha256: string): string {
    const expires = Math.floor(Date.now() / 1000) + this.config.signedUrlTtlSeconds;
    const sig = this.signature(sha256, expires);
    return `${this.cdnUrl}/repos/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}?Expires=${expires}&Signature=${sig}`;
  }

  /** 'ok', or why the CDN must refuse the URL. */
  checkSignature(
    sha256: string,
    expires: string | null,
    signature: string | null,
  ): 'ok' | 'expired' | 'invalid' {
    if (expires === null || signature === null || !/^\d+$/.exec(expires)) return 'invalid';
    const want = Buffer.from(this.signature(sha256, Number(expires)));
    const got = Buffer.from(signature);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return 'invalid';
    return Number(expires) < Date.now() / 1000 ? 'expired' : 'ok';
  }

  /**
   * HF's access rules: a bad token is refused everywhere; missing and private repos look alike (401 anonymous,
   * 404 with a token); gated repos hide their content (`content`), not their metadata, from anonymous callers.
   */
  authorize(ctx: Ctx, repoId: string, content: boolean): StoredRepo | undefined {
    const auth = ctx.req.headers.authorization;
    let authed = false;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m || m[1] !== this.config.token) {
        sendError(ctx, 401, undefined, 'Invalid credentials in Authorization header');
        return undefined;
      }
      authed = true;
    }
    const repo = this.repos.get(repoId);
    if (!repo || (repo.private && !authed)) {
      sendError(ctx, authed ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (repo.gated && content && !authed) {
      const msg = `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
      sendError(ctx, 401, 'GatedRepo', msg);
      return undefined;
    }
    return repo;
  }
}

export function revisionNotFound(ctx: Ctx, rev: string): void {
  sendError(ctx, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
}
