import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connection.js';
import { createLogger } from '../src/logger.js';
import { type FakeHub, startFakeHub } from './fake-hub/fake-hub.js';

let hub: FakeHub;
let storePath: string;

beforeAll(async () => {
  hub = await startFakeHub();
  storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-recovery-'));
});
afterAll(async () => {
  await hub?.close();
  await fs.rm(storePath, { recursive: true, force: true });
});

const config = () =>
  loadConfig({
    MODEL_STORE_PATH: storePath,
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'silent',
    UPSTREAM_RETRY_BASE_MS: '5',
  });

async function get(app: App, url: string): Promise<any> {
  return (await app.http.inject({ method: 'GET', url })).json();
}

async function waitFinished(app: App, jobId: string): Promise<any> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const job = await get(app, `/v1/hub/jobs/${jobId}`);
    if (job.status === 'completed' || job.status === 'failed' || Date.now() > deadline) return job;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('restart', () => {
  it('picks up jobs a crash left pending or running, and artifacts left downloading', async () => {
    await hub.addRepo({
      id: 'org/crashy',
      files: [
        { path: 'config.json', content: '{"x":1}' },
        { path: 'w.safetensors', content: { size: 1024 * 1024, seed: 'crashy' } },
      ],
    });
    const first = await createApp(config(), createLogger('silent'));
    const registered = await first.http.inject({
      method: 'POST',
      url: '/v1/hub/register',
      payload: { vendor: 'Org', name: 'Crashy', source_repo_id: 'org/crashy', auto_sync: true },
    });
    const { id: modelId, sync_job_id: syncJobId } = registered.json();
    expect((await waitFinished(first, syncJobId)).status).toBe('completed');
    const weights = (await get(first, `/v1/hub/models/${modelId}/artifacts`)).items.find(
      (a: any) => a.path === 'w.safetensors',
    );
    await first.close();

    // The state a crash leaves behind: a download job marked running with its artifact mid-download,
    // and a sync job that never started.
    const db = openDatabase(config().database);
    const now = new Date().toISOString();
    const downloadJobId = '11111111-1111-4111-8111-111111111111';
    const pendingSyncId = '22222222-2222-4222-8222-222222222222';
    await db
      .insertInto('jobs')
      .values([
        {
          id: downloadJobId,
          type: 'download',
          status: 'running',
          payload: JSON.stringify({ artifact_ids: [weights.id] }),
          createdAt: now,
          updatedAt: now,
          startedAt: now,
          attempts: 1,
        },
        {
          id: pendingSyncId,
          type: 'sync',
          status: 'pending',
          payload: JSON.stringify({ model_id: modelId, repo_id: 'org/crashy' }),
          createdAt: now,
          updatedAt: now,
          attempts: 0,
        },
      ])
      .execute();
    await db
      .updateTable('artifacts')
      .set({ downloadStatus: 'downloading' })
      .where('id', '=', weights.id)
      .execute();
    await db.destroy();

    const second = await createApp(config(), createLogger('silent'));
    try {
      expect(await waitFinished(second, downloadJobId)).toMatchObject({ status: 'completed', attempts: 2 });
      expect(await waitFinished(second, pendingSyncId)).toMatchObject({ status: 'completed', attempts: 1 });
      const after = (await get(second, `/v1/hub/models/${modelId}/artifacts`)).items.find(
        (a: any) => a.path === 'w.safetensors',
      );
      expect(after).toMatchObject({
        download_status: 'completed',
        sha256: (await hub.fileInfo('org/crashy', 'w.safetensors')).sha256,
      });
    } finally {
      await second.close();
    }
  });
});
