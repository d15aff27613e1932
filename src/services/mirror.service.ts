import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { Invalid, NotFound } from '../errors.js';
import { EXCERPT_MAX_CHARS, quoteExcerpt } from '../excerpt.js';
import type { BlobStore } from '../store/blob-store.js';
import { cacheEtag } from '../store/hf-cache-layout.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import { namePartProblem, repoIdProblem } from './repo-id.js';
import { isCommitId } from './revision.js';

/**
 * The read side of the Hugging Face–compatible mirror: a repo as the hub holds it, at the one
 * commit it synced (its files with their git and LFS ids), and the stored bytes of a file. What it
 * does not hold it asks `upstream` for (pull-through, mirror-pull-through.ts); without one (offline)
 * a repo it does not hold is not found, and a file that is not downloaded has no bytes to give.
 */
export interface MirrorRepo {
  modelId: string;
  repoId: string;
  /** The branch, tag or commit the hub tracks. */
  trackedRevision: string;
  /** The commit of the last sync: every revision the hub serves resolves to it. */
  commit: string;
  createdAt: string;
  syncedAt: string;
}

export interface MirrorFile {
  path: string;
  sizeBytes: number;
  /** Git blob sha1 (of the LFS pointer for LFS files); null if upstream gave none. */
  gitOid: string | null;
  /** sha256 of the content for LFS files; null for plain git files. */
  lfsSha256: string | null;
  /** sha256 of the verified stored bytes; null until the file is downloaded. */
  storedSha256: string | null;
  /**
   * Its content id as HF clients name its cache blob (ETag): the LFS sha256, else the git blob
   * sha1; null when upstream gave neither (the stored sha256 stands in once downloaded).
   */
  etag: string | null;
}

/**
 * A file opened for reading, stored or still downloading: the caller streams a range of it
 * (`start..end` inclusive; the stream releases what it holds when it ends or is destroyed), or
 * closes it unread.
 */
export interface OpenedFile {
  file: MirrorFile;
  sizeBytes: number;
  stream(start: number, end: number): Readable;
  close(): Promise<void>;
}

/** How the mirror gets from upstream what it does not hold (pull-through). */
export interface MirrorUpstream {
  /**
   * Registers (unless `registered`) and syncs a repo the hub does not serve yet, tracking
   * `revisionHint` when it names a branch, else main; the synced row, or the HF error to answer.
   */
  pullRepo(
    repoId: string,
    registered: ModelRepoRow | undefined,
    revisionHint: string | undefined,
  ): Promise<ModelRepoRow>;
  /**
   * A synced repo that tracks a branch or tag: the row to serve, synced to upstream's head when
   * the name moved (checked at most once per TTL), else as it is.
   */
  refresh(model: ModelRepoRow): Promise<ModelRepoRow>;
  /** A file not downloaded yet: its download requested (or joined), its bytes as they become durable. */
  pullFile(repo: MirrorRepo, artifact: ArtifactRow, file: MirrorFile): Promise<OpenedFile>;
}

/** What the mirror could not find, with the commit it looked at (HF sends it on a missing file). */
export class MirrorNotFound extends NotFound {
  constructor(
    code: 'REPO_NOT_FOUND' | 'REVISION_NOT_FOUND' | 'ARTIFACT_NOT_FOUND',
    message: string,
    readonly commit?: string,
  ) {
    super(code, message);
  }
}

/** Large reads: the socket, not the number of read calls, should limit a download's rate. */
export const READ_CHUNK_BYTES = 1024 * 1024;

export class MirrorService {
  constructor(
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly store: BlobStore,
    /** Pull-through; undefined when the mirror is offline. */
    private readonly upstream?: MirrorUpstream,
  ) {}

  /**
   * A synced repo by its id (`owner/name`, or a legacy one-part id, which the hub never holds).
   * `revisionHint` is the revision the client asked for, which a repo pulled through now tracks.
   */
  async repo(repoId: string, revisionHint?: string): Promise<MirrorRepo> {
    const problem = repoId.includes('/') ? repoIdProblem(repoId) : namePartProblem(repoId);
    if (problem) throw new Invalid('INVALID_REPO_ID', `Repo id ${quoteExcerpt(repoId)} ${problem}`);
    let model = await this.models.findByRepoId(repoId);
    if (this.upstream && repoId.includes('/')) {
      if (model?.commitSha == null) model = await this.upstream.pullRepo(repoId, model, revisionHint);
      else if (revisionHint !== model.commitSha) model = await this.upstream.refresh(model);
    }
    if (!model)
      throw new MirrorNotFound('REPO_NOT_FOUND', `Repository not found: ${repoId} is not on this hub`);
    return asMirrorRepo(model);
  }

  /** Its files at the synced commit, by path; paths the hub refused as unsafe are left out. */
  async files(repo: MirrorRepo): Promise<MirrorFile[]> {
    const rows = await this.artifacts.listByModel(repo.modelId);
    return rows.filter((a) => a.removedAt === null && isSafePath(a.path)).map(asMirrorFile);
  }

  /** One file at the synced commit, undefined when the repo has no such file. */
  async file(repo: MirrorRepo, filePath: string): Promise<MirrorFile | undefined> {
    assertSafeRelativePath(filePath);
    const row = await this.artifacts.findByModelPath(repo.modelId, filePath);
    return row && row.removedAt === null ? asMirrorFile(row) : undefined;
  }

  /**
   * Opens the bytes of a file: stored, or (pull-through) downloading now. Offline and not
   * downloaded yet, or its blob gone or damaged since: an EntryNotFound naming why, as the hub has
   * nothing to serve.
   */
  async openFile(repo: MirrorRepo, filePath: string): Promise<OpenedFile> {
    assertSafeRelativePath(filePath);
    const row = await this.artifacts.findByModelPath(repo.modelId, filePath);
    const missing = (why: string) =>
      new MirrorNotFound('ARTIFACT_NOT_FOUND', `Entry not found: ${mention(filePath)} ${why}`, repo.commit);
    if (!row || row.removedAt !== null) throw missing(`does not exist in ${repo.repoId} at ${repo.commit}`);
    const file = asMirrorFile(row);
    if (file.storedSha256 === null) {
      if (this.upstream) return this.upstream.pullFile(repo, row, file);
      throw missing(
        'is not downloaded to this hub yet, and this hub serves only what it holds (MIRROR_MODE=offline): request it with POST /v1/hub/download',
      );
    }
    let handle: FileHandle;
    try {
      handle = await fs.open(this.store.blobPath(file.storedSha256), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing('is no longer in the store');
      throw error;
    }
    const { size } = await handle.stat().catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
    if (size !== file.sizeBytes) {
      await handle.close();
      throw missing(`has ${size} bytes in the store, not ${file.sizeBytes} (a scan will repair it)`);
    }
    return {
      file,
      sizeBytes: size,
      stream: (start, end) => handle.createReadStream({ start, end, highWaterMark: READ_CHUNK_BYTES }),
      close: () => handle.close(),
    };
  }
}

/**
 * Whether the hub serves `revision` of this repo: the tracked branch/tag (also as `refs/heads/…`),
 * `HEAD`, or the synced commit. It holds one commit, so all of them are that commit.
 */
export function servesRevision(repo: MirrorRepo, revision: string): boolean {
  return (
    revision === repo.trackedRevision ||
    revision === 'HEAD' ||
    revision === `refs/heads/${repo.trackedRevision}` ||
    (isCommitId(revision) && revision === repo.commit)
  );
}

/** Client input in a message: as it is when short, else a quoted excerpt (never echoed whole). */
export function mention(value: string): string {
  return value.length <= EXCERPT_MAX_CHARS ? value : quoteExcerpt(value);
}

/**
 * The `Invalid rev id` the hub answers for a revision it does not hold; with the repo, what this
 * hub holds of it instead (one commit per repo).
 */
export function revisionNotFound(revision: string, held?: MirrorRepo): MirrorNotFound {
  const instead = held
    ? ` (this hub holds ${held.repoId} at ${held.trackedRevision}, commit ${held.commit}, and serves that one commit)`
    : '';
  return new MirrorNotFound('REVISION_NOT_FOUND', `Invalid rev id: ${mention(revision)}${instead}`);
}

/** The LFS pointer git stores for LFS content, as the hub writes it. */
export function lfsPointer(sha256: string, sizeBytes: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${sizeBytes}\n`;
}

function asMirrorRepo(model: ModelRepoRow): MirrorRepo {
  if (model.commitSha === null) {
    throw new MirrorNotFound(
      'REPO_NOT_FOUND',
      `Repository not found: ${model.repoId} is registered on this hub but not synced yet`,
    );
  }
  return {
    modelId: model.id,
    repoId: model.repoId,
    trackedRevision: model.revision,
    commit: model.commitSha,
    createdAt: model.createdAt,
    syncedAt: model.lastSyncedAt ?? model.updatedAt,
  };
}

function asMirrorFile(a: ArtifactRow): MirrorFile {
  return {
    path: a.path,
    sizeBytes: a.size,
    gitOid: a.upstreamOid,
    lfsSha256: a.upstreamSha256,
    storedSha256: a.downloadStatus === 'completed' ? a.sha256 : null,
    etag: cacheEtag(a),
  };
}

function isSafePath(filePath: string): boolean {
  try {
    assertSafeRelativePath(filePath);
    return true;
  } catch {
    return false;
  }
}
