import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Gated repos, rejected tokens, and the rule that no token ever reaches a log or a response. */
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub({ token: 'hf_the_only_valid_token' });
  await hub.addRepo({
    id: 'gated/model',
    gated: true,
    files: [
      { path: 'config.json', content: '{"gated":true}' },
      { path: 'model.safetensors', content: { size: 4096, seed: 'gated' } },
    ],
  });
});
afterAll(async () => {
  await hub?.close();
});

async function syncGated(t: TestApp) {
  const reg = await t.request('POST', '/v1/hub/register', {
    vendor: 'G',
    name: 'M',
    source_repo_id: 'gated/model',
    auto_sync: true,
    // About what the sync does with the hub's answers: registering's own check would refuse first.
    verify: false,
  });
  const job = await t.waitForJob(reg.body.sync_job_id);
  const artifacts = await t.request('GET', `/v1/hub/models/${reg.body.id}/artifacts`);
  return { job, artifacts: new Map<string, any>(artifacts.body.items.map((a: any) => [a.path, a])) };
}

describe('upstream auth', () => {
  it('without a token, lists a gated repo but fails its files with GatedRepo and a hint', async () => {
    const t = await startTestApp(hub.url);
    try {
      const { job, artifacts } = await syncGated(t);
      expect(job.status).toBe('completed');
      expect(job.result).toMatchObject({ files: 2, metadata_downloaded: 0, metadata_failed: 1 });
      const config = artifacts.get('config.json');
      expect(config.download_status).toBe('failed');
      expect(config.error).toContain('GatedRepo');
      expect(config.error).toContain('set HF_TOKEN');
      expect(config.error).toContain('Access to model gated/model is restricted');
    } finally {
      await t.close();
    }
  });

  it('with the token, downloads gated files', async () => {
    const t = await startTestApp(hub.url, { HF_TOKEN: 'hf_the_only_valid_token' });
    try {
      const { artifacts } = await syncGated(t);
      expect(artifacts.get('config.json')).toMatchObject({ download_status: 'completed', error: null });
      const job = await t.waitForJob(
        (
          await t.request('POST', '/v1/hub/download', {
            artifact_ids: [artifacts.get('model.safetensors').id],
          })
        ).body.job_id,
      );
      expect(job.status).toBe('completed');
    } finally {
      await t.close();
    }
  });

  it('says the token was rejected, and never writes the token to a log line or a response', async () => {
    const secret = 'hf_wrong_but_secret_value_123';
    const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-secret-'));
    let logs = '';
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        logs += chunk;
        callback();
      },
    });
    const config = loadConfig({
      MODEL_STORE_PATH: storePath,
      HF_ENDPOINT: hub.url,
      HF_TOKEN: secret,
      UPSTREAM_RETRY_BASE_MS: '5',
      LOG_LEVEL: 'trace',
    });
    const app = await createApp(config, createLogger('trace', sink));
    try {
      const responses: string[] = [];
      const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
        const r = await app.http.inject({ method, url, ...(payload ? { payload } : {}) });
        responses.push(r.body);
        return r.json();
      };
      const body = { vendor: 'G', name: 'M', source_repo_id: 'gated/model', auto_sync: true };
      // Registering's check already hears the refusal; its answer names HF_TOKEN, not the token.
      const refused = await call('POST', '/v1/hub/register', body);
      expect(refused.error.code).toBe('UPSTREAM_UNAUTHORIZED');
      expect(refused.error.message).toContain('refused the HF_TOKEN set on this hub');
      const reg = await call('POST', '/v1/hub/register', { ...body, verify: false });
      let job: any;
      const deadline = Date.now() + 10_000;
      do {
        await new Promise((r) => setTimeout(r, 20));
        job = await call('GET', `/v1/hub/jobs/${reg.sync_job_id}`);
      } while (job.status !== 'failed' && job.status !== 'completed' && Date.now() < deadline);
      expect(job.status).toBe('failed');
      expect(job.error).toContain('rejected HF_TOKEN');
      await call('GET', '/v1/hub/jobs');
      await call('GET', `/v1/hub/models/${reg.id}`);
      expect(hub.requests.some((r) => r.headers.authorization === `Bearer ${secret}`)).toBe(true);
      expect(logs.length).toBeGreaterThan(0);
      expect(logs).not.toContain(secret);
      expect(responses.join('\n')).not.toContain(secret);
    } finally {
      await app.close();
      await fs.rm(storePath, { recursive: true, force: true });
    }
  });
});
