import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type CliRun, runCli, waitFor } from '../support/child-server.js';
import { contentGets, MiB, rangeStart } from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * `model-hub cancel` and `model-hub retry [--wait]` end to end: the CLI as a child process (piped,
 * not a TTY) against a hub listening on a loopback port, on the backend of the project. Each CLI run
 * starts Node from the sources (seconds on a busy machine), hence the generous test timeouts.
 */
const REPO = 'cli/control';
const FILE = 'weights.safetensors';
/** 16 s at the hub's 2 MiB/s: long enough for a CLI started on a busy machine to cancel it. */
const SIZE = 32 * MiB;
let hub: FakeHub;
let t: TestApp;
let base: string;
let artifactId: string;
let syncJobId: string;
let cancelledJobId: string;

const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runCli(args, { MODEL_HUB_URL: base, MODEL_HUB_KEY: '', ...env });
const lines = (text: string) => text.trimEnd().split('\n');

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
  await hub.addRepo({ id: REPO, files: [{ path: FILE, content: { size: SIZE, seed: 'cli-control' } }] });
  t = await startTestApp(hub.url, { DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(1024 * MiB) });
  base = await t.listen();
  const synced = await registerAndSync(t, REPO, 'Cli', 'Control');
  artifactId = synced.artifacts.get(FILE).id;
  syncJobId = synced.job.id;
});

afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('model-hub cancel / retry', () => {
  it('refuses a job id that is not a UUID before asking the hub', async () => {
    for (const verb of ['cancel', 'retry']) {
      const run = await cli([verb, 'last-one']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        "error: command-argument value 'last-one' is invalid for argument 'job_id'",
      );
      expect(run.stderr).toContain('expected a job id (a UUID such as');
    }
  }, 90_000);

  it('cancels a running download, and the retry --wait resumes it to the end', async () => {
    const queued = await t.request('POST', '/v1/hub/download', { artifact_ids: [artifactId] });
    cancelledJobId = queued.body.job_id;
    const statePath = path.join(t.storePath, 'temp', `${artifactId}.part.json`);
    await waitFor('a durable checkpoint', async () =>
      JSON.parse(await fs.readFile(statePath, 'utf8')).committedBytes > 0 ? true : undefined,
    );
    const cancel = await cli(['cancel', cancelledJobId]);
    expect(cancel.stderr).toBe('');
    expect(cancel.stdout).toBe(`Cancelled job ${cancelledJobId}\n`);
    expect(cancel.code).toBe(0);
    const kept = JSON.parse(await fs.readFile(statePath, 'utf8')).committedBytes as number;
    expect(kept).toBeGreaterThan(0);

    // Watching a cancelled job ends at once with exit 1, the way a failed one does.
    const watch = await cli(['watch', cancelledJobId]);
    expect(watch.code).toBe(1);
    expect(lines(watch.stdout).at(-1)).toMatch(/^Download job cancelled after /);
    expect(watch.stderr).toContain(`error: job ${cancelledJobId} was cancelled`);

    const retryAt = Date.now();
    const retry = await cli(['retry', cancelledJobId, '--wait']);
    expect(retry.code).toBe(0);
    const out = lines(retry.stdout);
    const queuedLine = new RegExp(
      `^Download job queued for 1 artifact\\(s\\) \\(retry of cancelled job ${cancelledJobId}\\): ([0-9a-f-]{36})$`,
    );
    const newJobId = queuedLine.exec(out[0] ?? '')?.[1];
    expect(newJobId).toBeDefined();
    expect(out.at(-1)).toMatch(/^Download job completed in .*: 1 files, 32\.0 MiB \(1 downloaded, /);
    expect((await t.request('GET', `/v1/hub/jobs/${newJobId}`)).body).toMatchObject({
      status: 'completed',
      retry_of: cancelledJobId,
    });
    const gets = (await contentGets(hub, REPO, FILE)).filter((r) => r.at >= retryAt);
    expect(gets.map((r) => [r.status, rangeStart(r)])).toEqual([[206, kept]]);
  }, 90_000);

  it('prints the job as JSON with --json, and answers a cancelled job again', async () => {
    const run = await cli(['cancel', cancelledJobId, '--json']);
    expect(run.code).toBe(0);
    const job = JSON.parse(run.stdout);
    expect(job).toMatchObject({ id: cancelledJobId, status: 'cancelled', type: 'download' });
    expect(job.cancel_requested_at).not.toBeNull();
  }, 90_000);

  it('exits 1 with the hub error for a job that cannot be cancelled or retried, or does not exist', async () => {
    const cancel = await cli(['cancel', syncJobId]);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toBe(
      `error: Job ${syncJobId} completed; only a pending or running job can be cancelled (a failed one can be retried) (JOB_NOT_CANCELLABLE)\n`,
    );
    const retry = await cli(['retry', syncJobId]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toBe(
      `error: Job ${syncJobId} is completed; only a failed or cancelled job can be retried (JOB_NOT_RETRYABLE)\n`,
    );
    const unknown = crypto.randomUUID();
    const missing = await cli(['cancel', unknown]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: Job ${unknown} not found (JOB_NOT_FOUND)\n`);
  }, 90_000);

  it('sends --key or MODEL_HUB_KEY: a read key is refused, a write key is not', async () => {
    const create = async (scope: string, key?: string) =>
      (
        await t.app.http.inject({
          method: 'POST',
          url: '/v1/hub/keys',
          payload: { scope },
          ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
        })
      ).json().key as string;
    const admin = await create('admin');
    const read = await create('read', admin);
    const write = await create('write', admin);
    const denied = await cli(['cancel', cancelledJobId, '--key', read]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('needs "write" (FORBIDDEN)');
    expect(denied.stderr).not.toContain(read);
    const allowed = await cli(['cancel', cancelledJobId], { MODEL_HUB_KEY: write });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toBe(`Cancelled job ${cancelledJobId}\n`);
  }, 90_000);
});
