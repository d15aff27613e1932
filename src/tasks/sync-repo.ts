import { newId, nowIso } from '../clock.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ArtifactUpdate, NewArtifact } from '../db/schema.js';
import { errorMessage, NotFound } from '../errors.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import { classifyFile } from './classify.js';
import { type DownloadDeps, downloadArtifact } from './download-artifact.js';
import type { SyncPayload, SyncResult } from './job-payloads.js';
import { settledMap } from './settled-map.js';
import { downloadSmallFiles, isSmallFile } from './small-files.js';
import { cancelledBy } from './worker-leases.js';

export interface SyncDeps extends DownloadDeps {
  models: ModelsRepository;
}

const LISTED_PATHS_IN_RESULT = 100;
const METADATA_CONCURRENCY = 4;

/**
 * sync_repo_metadata: pin the revision to a commit, list every file at that commit, upsert one
 * artifact per file in batches (new / changed / unchanged / removed upstream), then fetch the
 * small non-weight files through the normal download path.
 */
export async function syncRepo(deps: SyncDeps, payload: SyncPayload): Promise<SyncResult> {
  const model = await deps.models.findById(payload.model_id);
  if (!model) throw new NotFound('REPO_NOT_FOUND', `Model ${payload.model_id} no longer exists`);
  await deps.models.setStatus(model.id, 'syncing', { error: null, updatedAt: nowIso() });
  try {
    const commit = await deps.hub.resolveCommit(model.repoId, model.revision);
    await deps.log(`Resolved ${model.repoId}@${model.revision} to commit ${commit}`);
    const existing = new Map((await deps.artifacts.listByModel(model.id)).map((a) => [a.path, a]));
    const plan = await planChanges(deps, model.id, model.repoId, commit, existing);
    await deps.artifacts.applySync(plan.changes);
    await deps.artifacts.setCommit(plan.unchangedIds, commit, plan.changes.removedAt);

    const synced = { ...model, commitSha: commit };
    const metadataTargets = (await deps.artifacts.listByModel(model.id)).filter(
      (a) =>
        a.removedAt === null &&
        a.fileType !== 'model' &&
        a.size <= deps.metadataMaxBytes &&
        pathProblem(a.path) === undefined,
    );
    deps.progress.plan(
      metadataTargets.length,
      metadataTargets.reduce((sum, a) => sum + a.size, 0),
    );
    // Small files (most metadata) are fetched many at once and committed in groups; the rest one by one.
    // Both settle before either's error is thrown: no transfer outlives the handler.
    const settled = await Promise.allSettled([
      downloadSmallFiles(
        deps,
        metadataTargets.filter(isSmallFile).map((artifact) => ({ artifact, model: synced })),
      ),
      settledMap(
        metadataTargets.filter((a) => !isSmallFile(a)),
        (a) => downloadArtifact(deps, a, synced),
        METADATA_CONCURRENCY,
      ),
    ]);
    const outcomes = settled.flatMap((one) => {
      if (one.status === 'rejected') throw one.reason;
      return one.value;
    });
    const downloaded = outcomes.filter((o) => o.status === 'completed' && o.source !== 'present').length;
    const failed = outcomes.filter((o) => o.status === 'failed').length;

    const result: SyncResult = {
      commit,
      previous_commit: model.commitSha,
      files: plan.files,
      created: plan.added.length,
      changed: plan.changed.length,
      removed: plan.removed.length,
      unchanged: plan.unchangedIds.length,
      unsafe_paths: plan.unsafe.size,
      metadata_downloaded: downloaded,
      metadata_failed: failed,
      added_paths: plan.added.slice(0, LISTED_PATHS_IN_RESULT),
      changed_paths: plan.changed.slice(0, LISTED_PATHS_IN_RESULT),
      removed_paths: plan.removed.slice(0, LISTED_PATHS_IN_RESULT),
    };
    await deps.log(
      `Synced ${result.files} files, created ${result.created} new artifacts, downloaded ${downloaded} metadata files` +
        ` (changed ${result.changed}, removed upstream ${result.removed}, unchanged ${result.unchanged}` +
        `${failed ? `, ${failed} metadata downloads failed` : ''}${plan.unsafe.size ? `, ${plan.unsafe.size} unsafe paths refused` : ''})`,
    );
    if (model.commitSha && model.commitSha !== commit) {
      await deps.log(
        `Upstream moved from ${model.commitSha} to ${commit}: added ${describe(plan.added)}; changed ${describe(plan.changed)}; removed ${describe(plan.removed)}`,
      );
    }
    const at = nowIso();
    await deps.events.commit(
      (trx) =>
        deps.models.in(trx).setStatus(model.id, 'synced', {
          error: null,
          commitSha: commit,
          lastSyncedAt: at,
          updatedAt: at,
        }),
      [
        {
          type: 'model.synced',
          job_id: deps.jobId,
          model_id: model.id,
          data: {
            repo_id: model.repoId,
            commit,
            files: result.files,
            created: result.created,
            changed: result.changed,
            removed: result.removed,
          },
        },
      ],
    );
    return result;
  } catch (error) {
    if (cancelledBy(deps.signal)) {
      // A cancelled sync says nothing about the repo: it shows what it showed before.
      const before = model.status === 'syncing' ? (model.commitSha ? 'synced' : 'registered') : model.status;
      await deps.models.setStatus(model.id, before, { error: model.error, updatedAt: nowIso() });
    } else {
      await deps.models.setStatus(model.id, 'error', { error: errorMessage(error), updatedAt: nowIso() });
    }
    throw error;
  }
}

async function planChanges(
  deps: SyncDeps,
  modelId: string,
  repoId: string,
  commit: string,
  existing: Map<string, ArtifactRow>,
) {
  const at = nowIso();
  const inserts: NewArtifact[] = [];
  const updates: { id: string; set: ArtifactUpdate }[] = [];
  const unchangedIds: string[] = [];
  const added: string[] = [];
  const changed: string[] = [];
  const unsafe = new Set<string>();
  const seen = new Set<string>();
  let files = 0;

  for await (const listed of deps.hub.listFiles(repoId, commit)) {
    const file = { ...listed, path: recordablePath(listed.path) };
    if (seen.has(file.path)) continue;
    seen.add(file.path);
    files++;
    const unsafeReason = pathProblem(listed.path);
    if (unsafeReason) unsafe.add(file.path);
    const upstream = {
      size: file.size,
      upstreamOid: file.oid,
      upstreamSha256: file.lfsSha256,
      commitSha: commit,
      fileType: classifyFile(file.path),
    };
    const reset = {
      downloadStatus: unsafeReason ? ('failed' as const) : ('pending' as const),
      sha256: null,
      localPath: null,
      bytesDownloaded: 0,
      error: unsafeReason ?? null,
      removedAt: null,
      updatedAt: at,
    };
    const previous = existing.get(file.path);
    if (!previous) {
      added.push(file.path);
      inserts.push({ id: newId(), modelId, path: file.path, ...upstream, ...reset, createdAt: at });
    } else if (
      previous.size !== file.size ||
      previous.upstreamOid !== file.oid ||
      previous.upstreamSha256 !== file.lfsSha256
    ) {
      changed.push(file.path);
      updates.push({ id: previous.id, set: { ...upstream, ...reset } });
    } else {
      unchangedIds.push(previous.id);
    }
  }
  const removed = [...existing.values()].filter((a) => !seen.has(a.path) && a.removedAt === null);
  return {
    files,
    added,
    changed,
    unsafe,
    unchangedIds,
    removed: removed.map((a) => a.path),
    changes: { inserts, updates, removedIds: removed.map((a) => a.id), removedAt: at },
  };
}

function pathProblem(filePath: string): string | undefined {
  try {
    assertSafeRelativePath(filePath);
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

function describe(paths: string[]): string {
  if (paths.length === 0) return 'none';
  const shown = paths.slice(0, 10).join(', ');
  return paths.length > 10 ? `${shown} and ${paths.length - 10} more` : shown;
}

/**
 * PostgreSQL text cannot hold NUL, so a NUL in an upstream name is recorded as the six characters
 * `\u0000`, in every dialect. Such a name is unsafe anyway: the artifact fails and is never fetched.
 */
function recordablePath(upstreamPath: string): string {
  return upstreamPath.replaceAll('\u0000', '\\u0000');
}
