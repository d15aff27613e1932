import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream } from 'pino';
import { type App, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createBackend } from './backend.js';

export interface JsonResponse<T = any> {
  status: number;
  body: T;
}

export interface TestApp {
  app: App;
  storePath: string;
  /** The backend's environment (DATABASE_URL, REDIS_URL… in distributed mode), for child processes. */
  backendEnv: Record<string, string>;
  request<T = any>(
    method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
    url: string,
    body?: unknown,
  ): Promise<JsonResponse<T>>;
  /**
   * Polls the job every `pollMs` (20 by default) until it is completed or failed (deadline, never a
   * fixed sleep).
   */
  waitForJob(jobId: string, timeoutMs?: number, pollMs?: number): Promise<any>;
  /** Listens on a random loopback port (for clients that need a real socket: SSE, the CLI); returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real app pointed at a fake hub, on the backend of this test run: SQLite in a temp store with the
 * in-process queue, or its own PostgreSQL database and BullMQ prefix.
 */
export async function startTestApp(
  hubUrl: string,
  env: Record<string, string> = {},
  /** Where log lines go (with LOG_LEVEL in `env`), for tests that read them; stdout by default. */
  logDestination?: DestinationStream,
): Promise<TestApp> {
  const storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-test-'));
  const backend = await createBackend();
  const config = loadConfig({
    ...backend.env,
    MODEL_STORE_PATH: storePath,
    HF_ENDPOINT: hubUrl,
    UPSTREAM_RETRY_BASE_MS: '5',
    UPSTREAM_TIMEOUT_MS: '5000',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await createApp(config, createLogger(config.logLevel, logDestination));
  const request: TestApp['request'] = async (method, url, body) => {
    const response = await app.http.inject({
      method,
      url,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
  };
  return {
    app,
    storePath,
    backendEnv: backend.env,
    request,
    async waitForJob(jobId, timeoutMs = 20_000, pollMs = 20) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await request('GET', `/v1/hub/jobs/${jobId}`);
        if (body.status === 'completed' || body.status === 'failed') return body;
        if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async listen() {
      await app.http.listen({ host: '127.0.0.1', port: 0 });
      const address = app.http.server.address();
      if (address === null || typeof address === 'string') throw new Error('not listening on a port');
      return `http://127.0.0.1:${address.port}`;
    },
    async close() {
      await app.close();
      await backend.drop();
      await fs.rm(storePath, { recursive: true, force: true });
    },
  };
}

/** Registers a repo and runs a sync to completion; returns the model and its artifacts by path. */
export async function registerAndSync(
  t: TestApp,
  repoId: string,
  vendor = 'Test',
  name = repoId.split('/')[1] ?? 'x',
) {
  const registered = await t.request('POST', '/v1/hub/register', { vendor, name, source_repo_id: repoId });
  if (registered.status !== 201) throw new Error(`register failed: ${JSON.stringify(registered.body)}`);
  const sync = await t.request('POST', '/v1/hub/sync', { repo_id: repoId });
  const job = await t.waitForJob(sync.body.job_id);
  const artifacts = await t.request('GET', `/v1/hub/models/${registered.body.id}/artifacts`);
  const byPath = new Map<string, any>(artifacts.body.items.map((a: any) => [a.path, a]));
  return { model: registered.body, job, artifacts: byPath };
}
