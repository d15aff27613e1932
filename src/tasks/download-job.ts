import type { ModelsRepository } from '../db/models.repo.js';
import type { ModelRepoRow } from '../db/schema.js';
import { type DownloadDeps, type DownloadOutcome, downloadArtifact } from './download-artifact.js';
import type { DownloadPayload, DownloadResult } from './job-payloads.js';
import { settledMap } from './settled-map.js';

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

/** A download job: every listed artifact, a few files at once; fails if any artifact failed. */
export async function runDownloadJob(
  deps: DownloadJobDeps,
  payload: DownloadPayload,
): Promise<DownloadResult> {
  const artifacts = await deps.artifacts.findByIds(payload.artifact_ids);
  const models = new Map<string, ModelRepoRow | undefined>();
  deps.progress.plan(
    artifacts.length,
    artifacts.reduce((sum, a) => sum + a.size, 0),
  );
  const failures: string[] = [];
  const outcomes = await settledMap(
    artifacts,
    async (artifact): Promise<DownloadOutcome> => {
      if (!models.has(artifact.modelId))
        models.set(artifact.modelId, await deps.models.findById(artifact.modelId));
      const model = models.get(artifact.modelId);
      if (!model) return { status: 'failed', error: `model ${artifact.modelId} no longer exists` };
      const started = Date.now();
      const outcome = await downloadArtifact(deps, artifact, model);
      if (outcome.status === 'failed') {
        failures.push(`${artifact.path}: ${outcome.error}`);
        await deps.log(`Failed ${artifact.path}: ${outcome.error}`);
      } else {
        deps.metrics.downloadCompleted({
          bytes: outcome.bytes,
          seconds: (Date.now() - started) / 1000,
          source: outcome.source,
        });
        await deps.log(describeCompletion(artifact.path, outcome, Date.now() - started));
      }
      return outcome;
    },
    deps.fileConcurrency,
  );
  const missing = payload.artifact_ids.length - artifacts.length;
  if (missing > 0) failures.push(`${missing} artifact(s) no longer exist`);
  const completed = outcomes.filter((o) => o.status === 'completed');
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
