import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addManyFilesRepo, MANY_FILES_REPO } from '../fake-hub/demo.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url);
  await addManyFilesRepo(hub, 10_000);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('sync at scale', () => {
  it('syncs a 10,000-file repo over 11 tree pages (10,101 entries with the directories) and re-syncs it as unchanged', async () => {
    const { model, job, artifacts } = await registerAndSync(t, MANY_FILES_REPO, 'Bench', 'Many');
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ files: 10_000, created: 10_000 });
    expect(artifacts.size).toBe(10_000);
    expect(artifacts.get('shards/042/part-09942.safetensors')).toMatchObject({
      file_type: 'model',
      download_status: 'pending',
    });
    expect(hub.requests.filter((r) => r.path.startsWith(`/api/models/${MANY_FILES_REPO}/tree/`)).length).toBe(
      11,
    );

    const again = await t.request('POST', '/v1/hub/sync', { repo_id: MANY_FILES_REPO });
    const second = await t.waitForJob(again.body.job_id);
    expect(second.result).toMatchObject({
      files: 10_000,
      created: 0,
      changed: 0,
      removed: 0,
      unchanged: 10_000,
    });
    const list = await t.request('GET', `/v1/hub/models/${model.id}/artifacts`);
    expect(list.body.items).toHaveLength(10_000);
  });
});
