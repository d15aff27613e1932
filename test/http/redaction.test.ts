import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from '../support/child-server.js';
import { MiB } from '../support/download-helpers.js';
import { startTestApp } from '../support/test-app.js';

/**
 * No secret reaches a log line, an API response or a webhook delivery: not HF_TOKEN (used for real
 * against a gated repo, and on a job that fails with an upstream auth error), not a client's
 * Authorization header, not a webhook's signing secret. Logs run at trace level, as JSON with a
 * request id on request lines.
 */
const hfToken = `hf_${randomBytes(16).toString('hex')}`;
const clientBearer = `client-${randomBytes(16).toString('hex')}`;
const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;
const SECRETS = { HF_TOKEN: hfToken, 'client Authorization': clientBearer, 'webhook secret': webhookSecret };

let hub: FakeHub;
let receiver: Server;
let receiverUrl: string;
const delivered: { headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  hub = await startFakeHub({ token: hfToken });
  await hub.addRepo({
    id: 'gated/secret-model',
    gated: true,
    files: [
      { path: 'config.json', content: '{"gated":true}' },
      { path: 'tokenizer.json', content: '{"tokens":[]}' },
      { path: 'model.safetensors', content: { size: MiB, seed: 'gated-secret' } },
    ],
  });
  // The hub refuses tokenizer.json as if the token lacked access: an upstream auth error.
  hub.addFault({ filePath: 'tokenizer.json', status: 401, times: 1000 });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      delivered.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await hub?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

function expectNoSecret(where: string, text: string): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(text.includes(value), `${name} appears in ${where}`).toBe(false);
  }
}

describe('secrets', () => {
  it('never appear in logs, API responses or webhook deliveries', async () => {
    let logs = '';
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        logs += chunk;
        callback();
      },
    });
    const t = await startTestApp(
      hub.url,
      { HF_TOKEN: hfToken, LOG_LEVEL: 'trace', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '10' },
      sink,
    );
    const responses: string[] = [];
    const apiRequestIds: string[] = [];
    const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
      const response = await t.app.http.inject({
        method,
        url,
        headers: { authorization: `Bearer ${clientBearer}` },
        ...(payload ? { payload } : {}),
      });
      responses.push(`${method} ${url} ${JSON.stringify(response.headers)}\n${response.body}`);
      if (url.startsWith('/v1/')) apiRequestIds.push(String(response.headers['x-request-id']));
      return {
        status: response.statusCode,
        body: response.body.startsWith('{') ? response.json() : response.body,
      };
    };
    const finished = (jobId: string) =>
      waitFor(`job ${jobId}`, async () => {
        const job = (await call('GET', `/v1/hub/jobs/${jobId}`)).body;
        return job.status === 'completed' || job.status === 'failed' ? job : undefined;
      });

    try {
      const hook = await call('POST', '/v1/hub/webhooks', {
        url: receiverUrl,
        events: ['job.completed', 'job.failed'],
        secret: webhookSecret,
      });
      expect(hook.status).toBe(201);
      expect(hook.body.has_secret).toBe(true);

      const registered = await call('POST', '/v1/hub/register', {
        vendor: 'Gated',
        name: 'Secret',
        source_repo_id: 'gated/secret-model',
        auto_sync: true,
      });
      expect(registered.status).toBe(201);
      const sync = await finished(registered.body.sync_job_id);
      expect(sync.status).toBe('completed');
      const artifacts = new Map<string, any>(
        (await call('GET', `/v1/hub/models/${registered.body.id}/artifacts`)).body.items.map((a: any) => [
          a.path,
          a,
        ]),
      );
      // The gated config was fetched with the token; the refused tokenizer failed with the hint.
      expect(artifacts.get('config.json').download_status).toBe('completed');
      expect(artifacts.get('tokenizer.json').error).toContain('set HF_TOKEN');

      const download = await call('POST', '/v1/hub/download', {
        artifact_ids: [artifacts.get('model.safetensors').id, artifacts.get('tokenizer.json').id],
      });
      const failed = await finished(download.body.job_id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toContain('Upstream requires authentication');
      expect(failed.result).toMatchObject({ downloaded: 1, failed: 1 });
      expect(hub.requests.some((r) => r.headers.authorization === `Bearer ${hfToken}`)).toBe(true);

      await waitFor('the job.failed delivery', async () =>
        delivered.some((d) => d.headers['x-modelhub-event'] === 'job.failed') ? true : undefined,
      );
      await call('GET', '/v1/hub/webhooks');
      await call('GET', `/v1/hub/webhooks/${hook.body.id}`);
      await call('GET', `/v1/hub/webhooks/${hook.body.id}/deliveries`);
      await call('GET', '/v1/hub/jobs?limit=200');
      await call('GET', `/v1/hub/models/${registered.body.id}`);
      await call('GET', '/v1/hub/models/00000000-0000-4000-8000-000000000000');
      await call('POST', '/v1/hub/download', { artifact_ids: ['not-a-uuid'] });
      await call('GET', '/readyz');
      await call('GET', '/metrics');

      // Whatever code logs these shapes (configs, requests, upstream calls, webhooks), the values go.
      t.app.http.log.info(
        {
          config: { hfToken },
          env: { HF_TOKEN: hfToken },
          request: { headers: { authorization: `Bearer ${clientBearer}` }, body: { secret: webhookSecret } },
          upstream: { headers: { authorization: `Bearer ${hfToken}` } },
          webhook: { url: receiverUrl, secret: webhookSecret },
        },
        'redaction probe',
      );
    } finally {
      await t.close();
    }

    expect(logs.length).toBeGreaterThan(0);
    expectNoSecret('the logs', logs);
    expectNoSecret('the API responses', responses.join('\n'));
    expectNoSecret('the webhook deliveries', JSON.stringify(delivered));
    expect(
      delivered.every((d) => /^sha256=[0-9a-f]{64}$/.test(String(d.headers['x-modelhub-signature']))),
    ).toBe(true);

    const lines = logs
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, any>);
    const probe = lines.find((line) => line.msg === 'redaction probe');
    expect(probe).toMatchObject({
      config: { hfToken: '[REDACTED]' },
      env: { HF_TOKEN: '[REDACTED]' },
      request: { headers: { authorization: '[REDACTED]' }, body: { secret: '[REDACTED]' } },
      upstream: { headers: { authorization: '[REDACTED]' } },
      webhook: { url: receiverUrl, secret: '[REDACTED]' },
    });

    const requestLines = lines.filter((line) => line.req !== undefined || line.res !== undefined);
    for (const line of requestLines) expect(line.reqId).toMatch(/^[0-9a-f-]{36}$/);
    // The id a client sees in X-Request-Id finds its request's lines (ops routes log at warn only).
    for (const id of apiRequestIds) {
      const messages = requestLines.filter((line) => line.reqId === id).map((line) => line.msg);
      expect(messages).toEqual(['incoming request', 'request completed']);
    }
  });
});
