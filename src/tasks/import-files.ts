import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { errorMessage, IntegrityError, Invalid } from '../errors.js';
import type { EventLog } from '../events/event-log.js';
import type { JobProgress } from '../events/job-progress.js';
import type { HubInstrumentation } from '../events/metrics.js';
import { adoptFile } from '../store/blob-import.js';
import { type BlobStore, metadataFolder } from '../store/blob-store.js';
import { cacheEtag, inspectImportSource, repoIdOfFolder } from '../store/hf-cache-layout.js';
import { type ImportRoots, isWithin } from '../store/import-roots.js';
import { markCompleted } from './download-artifact.js';
import { type ImportCandidate, listCacheCandidates, listFolderCandidates } from './import/candidates.js';
import type { ImportPayload, ImportResult } from './job-payloads.js';
import { settledMap } from './settled-map.js';

export interface ImportDeps {
  models: ModelsRepository;
  artifacts: ArtifactsRepository;
  store: BlobStore;
  /** Checked again here: the tree may have changed since the request was accepted. */
  importRoots: ImportRoots;
  /** Non-weight files up to this size are also placed under metadata/, as downloads do. */
  metadataMaxBytes: number;
  /** Files hashed at once. */
  fileConcurrency: number;
  log: (message: string) => Promise<void>;
  jobId: string;
  progress: JobProgress;
  events: EventLog;
  metrics: HubInstrumentation;
  /** Aborts when the job is cancelled or its lease lost: no further file is started. */
  signal?: AbortSignal;
}

const LISTED_PROBLEMS = 100;

type Outcome =
  | { kind: 'imported'; how: 'linked' | 'copied' | 'deduplicated'; bytes: number }
  | { kind: 'already_present' }
  | { kind: 'rejected' | 'skipped'; reason: string };

/**
 * import: adopt files that already sit on the hub's machine (a Hugging Face cache, or a plain
 * folder for one repo) as the content of their artifacts. Each file is matched by repo and path,
 * hashed and accepted only if it is exactly what upstream advertised; the source is never moved
 * or changed. Rejections and skips are reported; they do not fail the job.
 */
export async function importFiles(deps: ImportDeps, payload: ImportPayload): Promise<ImportResult> {
  const root = await deps.importRoots.resolve(payload.path);
  const candidates = await collectCandidates(root, payload);
  const result: ImportResult = {
    files_seen: candidates.length,
    imported: 0,
    already_present: 0,
    rejected: 0,
    skipped: 0,
    bytes_imported: 0,
    linked: 0,
    copied: 0,
    problems: [],
  };
  const record = async (candidate: ImportCandidate, outcome: Outcome) => {
    switch (outcome.kind) {
      case 'imported':
        result.imported++;
        result.bytes_imported += outcome.bytes;
        if (outcome.how === 'linked') result.linked++;
        if (outcome.how === 'copied') result.copied++;
        return;
      case 'already_present':
        result.already_present++;
        return;
      default:
        result[outcome.kind]++;
        if (result.problems.length < LISTED_PROBLEMS) {
          result.problems.push({ path: label(candidate), outcome: outcome.kind, reason: outcome.reason });
        }
        await deps.log(
          `${outcome.kind === 'rejected' ? 'Rejected' : 'Skipped'} ${label(candidate)}: ${outcome.reason}`,
        );
    }
  };

  const groups = await matchArtifacts(deps, candidates, record);
  deps.progress.plan(
    groups.length,
    groups.reduce((sum, g) => sum + g.artifact.size, 0),
  );
  await settledMap(
    groups,
    async (group) => {
      deps.signal?.throwIfAborted();
      deps.progress.fileStarted(group.artifact.id, group.artifact.path, group.artifact.size);
      let accepted = false;
      for (const candidate of group.candidates) {
        // One good copy completes the artifact; other snapshots of the same file need no hashing.
        const outcome: Outcome = accepted
          ? { kind: 'skipped', reason: 'imported from another snapshot already' }
          : await importOne(deps, root, group.model, group.artifact, candidate);
        accepted ||= outcome.kind === 'imported' || outcome.kind === 'already_present';
        await record(candidate, outcome);
      }
      deps.progress.fileFinished(group.artifact.id, { ok: accepted, size: group.artifact.size });
    },
    deps.fileConcurrency,
  );
  await deps.log(
    `Import of ${payload.path}: ${result.files_seen} files seen, ${result.imported} imported (${result.linked} linked, ${result.copied} copied), ${result.already_present} already present, ${result.rejected} rejected, ${result.skipped} skipped`,
  );
  return result;
}

/** What lies below `root`, the imported directory as realpath resolved it. */
async function collectCandidates(root: string, payload: ImportPayload): Promise<ImportCandidate[]> {
  const source = await inspectImportSource(root);
  if (source.kind === 'folder') {
    if (!payload.repo_id) {
      throw new Invalid(
        'VALIDATION_FAILED',
        `${payload.path} is not a Hugging Face cache; pass repo_id to import a plain folder`,
      );
    }
    return listFolderCandidates(root, payload.repo_id);
  }
  const folders = source.repoFolders.filter(
    (folder) => payload.repo_id === undefined || repoIdOfFolder(path.basename(folder)) === payload.repo_id,
  );
  return (await Promise.all(folders.map((folder) => listCacheCandidates(folder, root)))).flat();
}

interface Group {
  model: ModelRepoRow;
  artifact: ArtifactRow;
  /** The synced commit's snapshot first. */
  candidates: ImportCandidate[];
}

/** Candidates per artifact; files of unknown repos or paths are recorded as skipped here. */
async function matchArtifacts(
  deps: ImportDeps,
  candidates: ImportCandidate[],
  record: (candidate: ImportCandidate, outcome: Outcome) => Promise<void>,
): Promise<Group[]> {
  const groups = new Map<string, Group>();
  const byRepo = new Map<string, ImportCandidate[]>();
  for (const candidate of candidates) {
    const files = byRepo.get(candidate.repoId);
    if (files) files.push(candidate);
    else byRepo.set(candidate.repoId, [candidate]);
  }
  for (const [repoId, files] of byRepo) {
    const model = await deps.models.findByRepoId(repoId);
    const notReady = !model
      ? `repo ${repoId} is not registered`
      : model.status !== 'synced' || !model.commitSha
        ? `repo ${repoId} is not synced (status ${model.status}); sync it first`
        : undefined;
    if (!model || notReady) {
      await deps.log(`Skipping ${files.length} file(s): ${notReady}`);
      for (const file of files) await record(file, { kind: 'skipped', reason: notReady ?? '' });
      continue;
    }
    const artifacts = new Map(
      (await deps.artifacts.listByModel(model.id))
        .filter((a) => a.removedAt === null)
        .map((a) => [a.path, a]),
    );
    for (const file of files) {
      if (file.refused) {
        await record(file, { kind: 'rejected', reason: file.refused });
        continue;
      }
      const artifact = artifacts.get(file.path);
      if (!artifact) {
        await record(file, {
          kind: 'skipped',
          reason: `no file ${file.path} in ${repoId} at its synced commit`,
        });
        continue;
      }
      const group = groups.get(artifact.id) ?? { model, artifact, candidates: [] };
      group.candidates.push(file);
      groups.set(artifact.id, group);
    }
  }
  for (const group of groups.values()) {
    const synced = group.model.commitSha;
    group.candidates.sort((a, b) => Number(b.commit === synced) - Number(a.commit === synced));
  }
  return [...groups.values()];
}

async function importOne(
  deps: ImportDeps,
  root: string,
  model: ModelRepoRow,
  artifact: ArtifactRow,
  candidate: ImportCandidate,
): Promise<Outcome> {
  const started = performance.now();
  try {
    if (
      artifact.downloadStatus === 'completed' &&
      artifact.sha256 &&
      (await deps.store.hasBlob(artifact.sha256))
    ) {
      return { kind: 'already_present' };
    }
    const etag = cacheEtag(artifact);
    if (!etag)
      return {
        kind: 'rejected',
        reason: 'upstream advertised no hash for this file; nothing to verify against',
      };
    if (candidate.etag !== null && candidate.etag !== etag) {
      return { kind: 'skipped', reason: `a different version (blob ${candidate.etag}, expected ${etag})` };
    }
    // Listed minutes ago, maybe: a path swapped for a symlink since then must not lead out.
    const sourcePath = await fs.realpath(candidate.sourcePath);
    if (!isWithin(root, sourcePath)) {
      return { kind: 'rejected', reason: `resolves outside ${root}` };
    }
    const stat = await fs.stat(sourcePath);
    if (!stat.isFile()) return { kind: 'rejected', reason: 'not a regular file' };
    if (stat.size !== artifact.size) {
      throw new IntegrityError('size', `${artifact.size} bytes`, `${stat.size} bytes`, artifact.path);
    }
    // The store may hold these bytes already (verified when they entered): the source is not needed.
    const known =
      artifact.upstreamSha256 ??
      (artifact.upstreamOid
        ? await deps.artifacts.findCompletedSha256ByOid(artifact.upstreamOid)
        : undefined);
    const adopted =
      known && (await deps.store.hasBlob(known))
        ? { sha256: known, how: 'deduplicated' as const }
        : await adoptFile(
            deps.store,
            sourcePath,
            {
              path: artifact.path,
              size: artifact.size,
              sha256: artifact.upstreamSha256,
              gitOid: artifact.upstreamOid,
            },
            (bytesDone, bytesNow) => deps.progress.fileProgress(artifact.id, bytesDone, bytesNow),
          );
    if (artifact.fileType !== 'model' && artifact.size <= deps.metadataMaxBytes) {
      await deps.store.materializeMetadata(metadataFolder(model.repoId), artifact.path, adopted.sha256);
    }
    await markCompleted(deps, artifact, adopted.sha256, deps.store.blobRelativePath(adopted.sha256), {
      source: adopted.how === 'deduplicated' ? 'deduplicated' : 'imported',
      bytes: 0,
    });
    deps.metrics.downloadCompleted({
      bytes: 0,
      seconds: (performance.now() - started) / 1000,
      source: adopted.how === 'deduplicated' ? 'deduplicated' : 'imported',
    });
    return { kind: 'imported', how: adopted.how, bytes: adopted.how === 'deduplicated' ? 0 : artifact.size };
  } catch (error) {
    if (error instanceof IntegrityError) {
      deps.metrics.integrityFailure(error.algorithm);
      return { kind: 'rejected', reason: error.message };
    }
    // The source could not be read (permissions, vanished): this file is refused, the job goes on.
    if (isFileSystemError(error)) return { kind: 'rejected', reason: errorMessage(error) };
    throw error;
  }
}

function label(candidate: ImportCandidate): string {
  return candidate.commit
    ? `${candidate.repoId}@${candidate.commit.slice(0, 12)}:${candidate.path}`
    : `${candidate.repoId}:${candidate.path}`;
}

function isFileSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
