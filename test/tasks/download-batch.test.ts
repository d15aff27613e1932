import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { artifactsOf } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/** `POST /v1/hub/download {repo_id, include?, exclude?}`: a whole repo or a glob-selected subset in one job. */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { METADATA_MAX_BYTES: '0' });
  await hub.addRepo({
    id: 'batch/repo',
    files: [
      { path: 'config.json', content: '{}' },
      { path: 'model-00001-of-00002.safetensors', content: { size: 4000, seed: 'a' } },
      { path: 'model-00002-of-00002.safetensors', content: { size: 4000, seed: 'b' } },
      { path: 'onnx/model.onnx', content: { size: 3000, seed: 'c' } },
      { path: '.gitattributes', content: '*.bin filter=lfs\n' },
    ],
  });
  await registerAndSync(t, 'batch/repo', 'Batch', 'Repo');
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

async function statuses() {
  return Object.fromEntries(
    [...(await artifactsOf(t, 'batch/repo'))].map(([p, a]) => [p, a.download_status]),
  );
}

describe('batch download', () => {
  it('downloads the files matching include and not exclude', async () => {
    const queued = await t.request('POST', '/v1/hub/download', {
      repo_id: 'batch/repo',
      include: ['*.safetensors', '*.json', 'onnx/**'],
      exclude: ['model-00002-*'],
    });
    expect(queued.status).toBe(202);
    expect(queued.body.message).toContain('3 artifact(s)');
    expect((await t.waitForJob(queued.body.job_id)).status).toBe('completed');
    expect(await statuses()).toEqual({
      '.gitattributes': 'pending',
      'config.json': 'completed',
      'model-00001-of-00002.safetensors': 'completed',
      'model-00002-of-00002.safetensors': 'pending',
      'onnx/model.onnx': 'completed',
    });
  });

  it('downloads the whole repo without filters, skipping what is already stored', async () => {
    const queued = await t.request('POST', '/v1/hub/download', { repo_id: 'batch/repo' });
    const job = await t.waitForJob(queued.body.job_id);
    expect(job.result).toMatchObject({ artifacts: 5, downloaded: 2, already_present: 3, failed: 0 });
    expect(Object.values(await statuses())).toEqual(Array(5).fill('completed'));
  });

  it('answers an unknown repo with 404 and an empty selection with 400', async () => {
    const unknown = await t.request('POST', '/v1/hub/download', { repo_id: 'batch/nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('REPO_NOT_FOUND');
    const empty = await t.request('POST', '/v1/hub/download', { repo_id: 'batch/repo', include: ['*.gguf'] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toContain('No file of batch/repo matches');
    const mixed = await t.request('POST', '/v1/hub/download', { repo_id: 'batch/repo', artifact_ids: [] });
    expect(mixed.status).toBe(400);
  });
});
