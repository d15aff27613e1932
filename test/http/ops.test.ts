import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerProcess } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ArtifactsRepository } from '../../src/db/artifacts.repo.js';
import { openDatabase } from '../../src/db/connection.js';
import { pingDatabase } from '../../src/db/health.js';
import { JobsRepository } from '../../src/db/jobs.repo.js';
import { HubMetrics } from '../../src/events/metrics.js';
import { buildOpsServer } from '../../src/http/ops-server.js';
import { createLogger } from '../../src/logger.js';
import { ReadinessService } from '../../src/services/readiness.service.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { createBackend } from '../support/backend.js';
import { MiB } from '../support/download-helpers.js';
import { findSamples, parsePrometheusText, sampleValue } from '../support/prometheus.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/** This ops server's /metrics is public; the key store is never asked. */
const NO_KEYS = {
  anyKeys: async () => false,
  authenticate: async () => null,
};

/** /healthz, /readyz and /metrics: on the API (`serve`) and on a worker's METRICS_PORT. */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  hub = await startFakeHub();
  // Two repos with the same files.
  for (const id of ['ops/tiny', 'ops/copy']) {
    await hub.addRepo({
      id,
      files: [
        { path: 'config.json', content: '{"ops":true}' },
        { path: 'model.safetensors', content: { size: MiB, seed: 'ops-model' } },
      ],
    });
  }
  t = await startTestApp(hub.url);
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

async function scrape(test: TestApp) {
  const response = await test.app.http.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(response.body);
}

describe('health and readiness', () => {
  it('/healthz says the process is alive', async () => {
    expect(await t.request('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('/readyz is 200 when the database, the queue and the store answer', async () => {
    expect(await t.request('GET', '/readyz')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', queue: 'ok', store: 'ok' } },
    });
  });

  it('/readyz is 503 naming the store while temp/ cannot take a file, and 200 again after', async () => {
    // Replacing temp/ by a plain file fails every write into it, for root too (chmod would not).
    const temp = t.app.store.tempDir;
    const away = `${temp}.away`;
    await fs.rename(temp, away);
    await fs.writeFile(temp, 'not a directory');
    try {
      const unready = await t.request('GET', '/readyz');
      expect(unready.status).toBe(503);
      expect(unready.body.status).toBe('not_ready');
      expect(unready.body.checks).toMatchObject({ database: 'ok', queue: 'ok' });
      expect(unready.body.checks.store).toMatch(/^ENOTDIR/);
    } finally {
      await fs.rm(temp);
      await fs.rename(away, temp);
    }
    expect((await t.request('GET', '/readyz')).status).toBe(200);
  });

  it.skipIf(process.getuid?.() === 0)(
    '/readyz is 503 while temp/ is read-only (skipped as root, where chmod does not bite)',
    async () => {
      await fs.chmod(t.app.store.tempDir, 0o500);
      try {
        const unready = await t.request('GET', '/readyz');
        expect(unready.status).toBe(503);
        expect(unready.body.checks.store).toMatch(/^EACCES/);
      } finally {
        await fs.chmod(t.app.store.tempDir, 0o700);
      }
    },
  );

  it('/readyz is 503 naming the database once it is closed, and /metrics still renders', async () => {
    const backend = await createBackend();
    const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-ops-'));
    const config = loadConfig({ ...backend.env, MODEL_STORE_PATH: storePath });
    const db = openDatabase(config.database);
    const store = new BlobStore(storePath);
    await store.init();
    const ops = await buildOpsServer({
      logger: createLogger('silent'),
      access: { keys: NO_KEYS, mode: 'auto', listenHost: '127.0.0.1', metricsPublic: true },
      readiness: new ReadinessService({
        database: () => pingDatabase(db),
        store: () => store.probeWritable(),
      }),
      metrics: new HubMetrics({
        cluster: {
          jobCounts: () => new JobsRepository(db).countByTypeAndStatus(),
          storeUsage: () => new ArtifactsRepository(db).storeUsage(),
        },
      }),
    });
    try {
      await pingDatabase(db);
      await db.destroy();
      const response = await ops.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      const body = response.json();
      expect(body.status).toBe('not_ready');
      expect(body.checks.store).toBe('ok');
      expect(body.checks.database).toMatch(/destroyed/);
      expect(JSON.stringify(body)).not.toContain('postgres://');

      const metrics = await ops.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      const parsed = parsePrometheusText(metrics.body);
      expect(sampleValue(parsed, 'model_hub_metrics_collect_errors_total', { source: 'jobs' })).toBe(1);
      expect(sampleValue(parsed, 'model_hub_metrics_collect_errors_total', { source: 'store' })).toBe(1);
      expect(sampleValue(parsed, 'model_hub_queue_depth')).toBeNaN();
      expect(findSamples(parsed, 'model_hub_jobs')).toEqual([]);
    } finally {
      await ops.close();
      await backend.drop();
      await fs.rm(storePath, { recursive: true, force: true });
    }
  });

  it('keeps the ops routes out of the OpenAPI document', async () => {
    const doc = await t.request('GET', '/docs/json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toContain('/v1/hub/register');
    for (const hidden of ['/healthz', '/readyz', '/metrics'])
      expect(doc.body.paths).not.toHaveProperty(hidden);
  });
});

describe('/metrics', () => {
  it('is valid Prometheus text with the upstream answers and the jobs of a sync and a download', async () => {
    hub.resetRequests();
    const m = await startTestApp(hub.url);
    try {
      const before = await scrape(m);
      expect(findSamples(before, 'model_hub_upstream_responses_total')).toEqual([]);
      expect(sampleValue(before, 'model_hub_jobs', { type: 'sync', status: 'completed' })).toBe(0);

      const { job, artifacts } = await registerAndSync(m, 'ops/tiny');
      expect(job.status).toBe('completed');
      const queued = await m.request('POST', '/v1/hub/download', {
        artifact_ids: [artifacts.get('model.safetensors').id],
      });
      expect((await m.waitForJob(queued.body.job_id)).status).toBe('completed');

      const after = await scrape(m);
      // Every upstream answer the fake hub and its CDN sent this app is counted once, by status.
      const sent = new Map<string, number>();
      for (const r of hub.requests) sent.set(String(r.status), (sent.get(String(r.status)) ?? 0) + 1);
      expect(sent.get('200')).toBeGreaterThan(0);
      expect(sent.get('302')).toBe(1);
      for (const [status, count] of sent) {
        expect(sampleValue(after, 'model_hub_upstream_responses_total', { status, error_code: 'none' })).toBe(
          count,
        );
      }
      expect(sampleValue(after, 'model_hub_jobs', { type: 'sync', status: 'completed' })).toBe(1);
      expect(sampleValue(after, 'model_hub_jobs', { type: 'download', status: 'completed' })).toBe(1);
      expect(sampleValue(after, 'model_hub_queue_depth')).toBe(0);
    } finally {
      await m.close();
    }
  });

  it('reports the distinct blobs in the store and their size', async () => {
    const m = await startTestApp(hub.url);
    try {
      // Same content in two repos: one blob each for config.json and the model, not two.
      for (const repoId of ['ops/tiny', 'ops/copy']) {
        const { artifacts } = await registerAndSync(m, repoId);
        const queued = await m.request('POST', '/v1/hub/download', {
          artifact_ids: [artifacts.get('model.safetensors').id],
        });
        expect((await m.waitForJob(queued.body.job_id)).status).toBe('completed');
      }
      // The first scrape of this app: the store query is cached for a few seconds after it.
      const parsed = await scrape(m);
      expect(sampleValue(parsed, 'model_hub_store_blobs')).toBe(2);
      expect(sampleValue(parsed, 'model_hub_store_bytes')).toBe(MiB + Buffer.byteLength('{"ops":true}'));
    } finally {
      await m.close();
    }
  });

  it('counts the bytes and the jobs the worker finished (task instrumentation)', async () => {
    const m = await startTestApp(hub.url);
    try {
      const { artifacts } = await registerAndSync(m, 'ops/tiny');
      const queued = await m.request('POST', '/v1/hub/download', {
        artifact_ids: [artifacts.get('model.safetensors').id],
      });
      expect((await m.waitForJob(queued.body.job_id)).status).toBe('completed');
      const after = await scrape(m);
      expect(sampleValue(after, 'model_hub_downloaded_bytes_total')).toBe(MiB);
      expect(sampleValue(after, 'model_hub_artifacts_completed_total', { source: 'downloaded' })).toBe(1);
      expect(sampleValue(after, 'model_hub_download_duration_seconds_count')).toBe(1);
      expect(sampleValue(after, 'model_hub_jobs_finished_total', { type: 'sync', status: 'completed' })).toBe(
        1,
      );
      expect(
        sampleValue(after, 'model_hub_jobs_finished_total', { type: 'download', status: 'completed' }),
      ).toBe(1);
    } finally {
      await m.close();
    }
  });

  it('counts upstream retries and integrity failures, by kind', async () => {
    const m = await startTestApp(hub.url);
    try {
      const { artifacts } = await registerAndSync(m, 'ops/copy');
      const weights = artifacts.get('model.safetensors');
      hub.addFault({ filePath: 'model.safetensors', status: 503, times: 2 });
      const retried = await m.request('POST', '/v1/hub/download', { artifact_ids: [weights.id] });
      expect((await m.waitForJob(retried.body.job_id)).status).toBe('completed');
      const afterRetries = await scrape(m);
      expect(sampleValue(afterRetries, 'model_hub_upstream_retries_total')).toBeGreaterThanOrEqual(2);
      expect(
        sampleValue(afterRetries, 'model_hub_upstream_responses_total', {
          status: '503',
          error_code: 'none',
        }),
      ).toBe(2);

      hub.clearFaults();
      await hub.pushCommit('ops/copy', [
        { path: 'other.safetensors', content: { size: MiB, seed: 'ops-other' } },
      ]);
      const resynced = await resync(m, 'ops/copy');
      hub.addFault({ filePath: 'other.safetensors', corrupt: true, times: 10 });
      const corrupt = await m.request('POST', '/v1/hub/download', {
        artifact_ids: [resynced.get('other.safetensors').id],
      });
      expect((await m.waitForJob(corrupt.body.job_id)).status).toBe('failed');
      const afterCorrupt = await scrape(m);
      expect(sampleValue(afterCorrupt, 'model_hub_integrity_failures_total', { kind: 'sha256' })).toBe(1);
      expect(
        sampleValue(afterCorrupt, 'model_hub_jobs_finished_total', { type: 'download', status: 'failed' }),
      ).toBe(1);
    } finally {
      hub.clearFaults();
      await m.close();
    }
  });
});

async function resync(m: TestApp, repoId: string): Promise<Map<string, any>> {
  const sync = await m.request('POST', '/v1/hub/sync', { repo_id: repoId });
  expect((await m.waitForJob(sync.body.job_id)).status).toBe('completed');
  const model = (await m.request('GET', '/v1/hub/models')).body.items.find((x: any) => x.repo_id === repoId);
  const rows = (await m.request('GET', `/v1/hub/models/${model.id}/artifacts`)).body.items;
  return new Map(rows.map((a: any) => [a.path, a]));
}

describe('a worker with METRICS_PORT', () => {
  it('serves /healthz, /readyz and /metrics on that port', async () => {
    const backend = await createBackend();
    const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-ops-worker-'));
    const worker = await createWorkerProcess(
      loadConfig({
        ...backend.env,
        MODEL_STORE_PATH: storePath,
        HF_ENDPOINT: hub.url,
        METRICS_PORT: '0',
        LOG_LEVEL: 'silent',
      }),
      createLogger('silent'),
    );
    try {
      expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${worker.metricsUrl}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${worker.metricsUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { database: 'ok', queue: 'ok', store: 'ok' },
      });
      const metrics = await fetch(`${worker.metricsUrl}/metrics`);
      const parsed = parsePrometheusText(await metrics.text());
      expect(sampleValue(parsed, 'model_hub_queue_depth')).toBe(0);
      expect((await fetch(`${worker.metricsUrl}/v1/hub/jobs`)).status).toBe(404);
    } finally {
      await worker.close();
      await backend.drop();
      await fs.rm(storePath, { recursive: true, force: true });
    }
  });

  it('serves nothing without METRICS_PORT', async () => {
    const backend = await createBackend();
    const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-ops-worker-'));
    const worker = await createWorkerProcess(
      loadConfig({ ...backend.env, MODEL_STORE_PATH: storePath, HF_ENDPOINT: hub.url, LOG_LEVEL: 'silent' }),
      createLogger('silent'),
    );
    try {
      expect(worker.metricsUrl).toBeUndefined();
    } finally {
      await worker.close();
      await backend.drop();
      await fs.rm(storePath, { recursive: true, force: true });
    }
  });
});
