import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { FakeHub, RecordedRequest } from '../fake-hub/fake-hub.js';
import type { TestApp } from './test-app.js';

export const MiB = 1024 * 1024;

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
}

export async function artifactsOf(t: TestApp, repoId: string): Promise<Map<string, any>> {
  const models = await t.request('GET', '/v1/hub/models');
  const model = models.body.items.find((m: any) => m.repo_id === repoId);
  const list = await t.request('GET', `/v1/hub/models/${model.id}/artifacts`);
  return new Map<string, any>(list.body.items.map((a: any) => [a.path, a]));
}

export async function downloadAndWait(t: TestApp, artifactIds: string[]): Promise<any> {
  const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: artifactIds });
  if (queued.status !== 202) throw new Error(`download refused: ${JSON.stringify(queued.body)}`);
  return t.waitForJob(queued.body.job_id, 30_000);
}

/** GETs of this file's bytes (CDN for LFS files, resolve for small ones), in order. */
export async function contentGets(hub: FakeHub, repoId: string, path: string): Promise<RecordedRequest[]> {
  const info = await hub.fileInfo(repoId, path);
  return hub.requests.filter(
    (r) =>
      r.method === 'GET' &&
      (r.server === 'cdn' ? r.path.endsWith(`/${info.sha256}`) : r.path.endsWith(`/${path}`)),
  );
}

/** First byte asked for by a recorded request (0 without a Range header). */
export function rangeStart(request: RecordedRequest): number {
  const range = request.headers.range;
  const match = /^bytes=(\d+)-/.exec(Array.isArray(range) ? (range[0] ?? '') : (range ?? ''));
  return match ? Number(match[1]) : 0;
}
