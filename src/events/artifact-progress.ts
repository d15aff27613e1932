import type { HubEvent, NewEvent } from './hub-event.js';

/**
 * `artifact.progress`: how far a download's partial file is durable, for the mirror's readers that
 * stream a file while it downloads (in any process: it travels on the event bus). Published at
 * most once per checkpoint (about a second) per file, never stored, never sent to SSE clients or
 * webhooks. `start` marks a transfer attempt beginning at `durable_bytes` (0 after the partial was
 * discarded); otherwise bytes from upstream made the prefix grow to `durable_bytes`.
 */
export interface ArtifactProgress {
  durableBytes: number;
  start: boolean;
}

export function artifactProgressEvent(
  ids: { jobId: string; modelId: string; artifactId: string },
  progress: ArtifactProgress,
): NewEvent {
  return {
    type: 'artifact.progress',
    job_id: ids.jobId,
    model_id: ids.modelId,
    artifact_id: ids.artifactId,
    data: { durable_bytes: progress.durableBytes, start: progress.start },
  };
}

export function readArtifactProgress(event: HubEvent): ArtifactProgress | undefined {
  const { durable_bytes: durableBytes, start } = event.data;
  if (event.type !== 'artifact.progress' || !Number.isSafeInteger(durableBytes)) return undefined;
  return { durableBytes: durableBytes as number, start: start === true };
}
