import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { type DownloadDeps, type DownloadOutcome, downloadArtifact } from './download-artifact.js';
import type { DownloadPayload, DownloadResult } from './job-payloads.js';
import { settledMap } from './settled-map.js';
import { downloadSmallFiles, isSmallFile, type SmallFileItem } from './small-files.js';

export interface DownloadJobDeps extends DownloadDeps {
  models: ModelsRepository;
  /** Files of one job downloading at once. */
  fileConcurrency: number;
}

export class DownloadJobError extends Error {
  constructor(
    message: string,
    readonly result: DownloadResult,
  ) {
    super(message);
  }
}

/**
 * A download job: every listed artifact, a few files at once; fails if any artifact failed. Small
 * files (see small-files.ts) go through the small-file path, many at once and committed in groups,
 * alongside the others.
 */
export async function runDownloadJob(
  deps: DownloadJobDeps,
  payload: DownloadPayload,
): Promise<DownloadResult> {
  const artifacts = await deps.artifacts.findByIds(payload.artifact_ids);
  const models = new Map<string, ModelRepoRow | undefined>();
  for (const modelId of new Set(artifacts.map((a) => a.modelId))) {
    models.set(modelId, await deps.models.findById(modelId));
  }
  deps.progress.plan(
    artifacts.length,
    artifacts.reduce((sum, a) => sum + a.size, 0),
  );
  const failures: string[] = [];
  const outcomes: DownloadOutcome[] = [];
  const small: SmallFileItem[] = [];
  const large: { artifact: ArtifactRow; model: ModelRepoRow }[] = [];
  for (const artifact of artifacts) {
    const model = models.get(artifact.modelId);
    if (!model) {
      failures.push(`${artifact.path}: model ${artifact.modelId} no longer exists`);
      outcomes.push({ status: 'failed', error: `model ${artifact.modelId} no longer exists` });
    } else if (isSmallFile(artifact)) small.push({ artifact, model });
    else large.push({ artifact, model });
  }
  /** A file's outcome in the job: a failure listed and logged, a completion counted. */
  const tally = async (artifact: ArtifactRow, outcome: DownloadOutcome, elapsedMs: number) => {
    if (outcome.status === 'failed') {
      failures.push(`${artifact.path}: ${outcome.error}`);
      await deps.log(`Failed ${artifact.path}: ${outcome.error}`);
      return;
    }
    deps.metrics.downloadCompleted({
      bytes: outcome.bytes,
      seconds: elapsedMs / 1000,
      source: outcome.source,
    });
  };
  const settled = await Promise.allSettled([
    downloadSmallFiles(deps, small, {
      onOutcome: ({ artifact }, outcome, elapsedMs) => tally(artifact, outcome, elapsedMs),
    }),
    settledMap(
      large,
      async ({ artifact, model }): Promise<DownloadOutcome> => {
        const started = Date.now();
        const outcome = await downloadArtifact(deps, artifact, model);
        const elapsedMs = Date.now() - started;
        await tally(artifact, outcome, elapsedMs);
        if (outcome.status === 'completed')
          await deps.log(describeCompletion(artifact.path, outcome, elapsedMs));
        return outcome;
      },
      deps.fileConcurrency,
    ),
  ]);
  for (const one of settled) {
    if (one.status === 'rejected') throw one.reason;
    outcomes.push(...one.value);
  }
  const missing = payload.artifact_ids.length - artifacts.length;
  if (missing > 0) failures.push(`${missing} artifact(s) no longer exist`);
  const completed = outcomes.flatMap((o) => (o.status === 'completed' ? [o] : []));
  const result: DownloadResult = {
    artifacts: payload.artifact_ids.length,
    downloaded: completed.filter((o) => o.source === 'downloaded').length,
    deduplicated: completed.filter((o) => o.source === 'deduplicated').length,
    already_present: completed.filter((o) => o.source === 'present').length,
    failed: failures.length,
    bytes_downloaded: completed.reduce((sum, o) => sum + o.bytes, 0),
  };
  if (failures.length > 0) {
    throw new DownloadJobError(
      `${failures.length} of ${payload.artifact_ids.length} artifact(s) failed: ${failures.slice(0, 5).join('; ')}`,
      result,
    );
  }
  return result;
}

function describeCompletion(
  path: string,
  outcome: Extract<DownloadOutcome, { status: 'completed' }>,
  elapsedMs: number,
): string {
  if (outcome.source === 'present') return `Already stored ${path} (sha256 ${outcome.sha256})`;
  if (outcome.source === 'deduplicated') return `Reused stored blob for ${path} (sha256 ${outcome.sha256})`;
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const mbPerSecond = outcome.bytes / 1e6 / seconds;
  const how = [
    outcome.connections && outcome.connections > 1 ? `over ${outcome.connections} connections` : '',
    outcome.resumedFrom ? `resumed at byte ${outcome.resumedFrom}` : '',
  ].filter(Boolean);
  return `Downloaded ${path}: ${outcome.bytes} bytes in ${seconds.toFixed(2)} s (${mbPerSecond.toFixed(1)} MB/s${how.length ? `, ${how.join(', ')}` : ''}), sha256 ${outcome.sha256} verified`;
}
