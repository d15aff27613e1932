import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UI_TEST_TIMEOUT_MS, useBrowser } from '../support/browser.js';
import { waitFor } from '../support/child-server.js';
import { registerAndSync } from '../support/test-app.js';
import { jobEntry, markNoReload, shortId, startUiHub, statusText, type UiHub } from '../support/ui-hub.js';

/**
 * Jobs in the browser: a failed download shows its error and is retried once upstream recovers; a
 * running download is cancelled and keeps its partial file; the event stream is cut and the page
 * says so, reconnects and catches up on what happened meanwhile.
 */
const REPO = 'acme/jobs-demo';
const KiB = 1024;
const MiB = 1024 * KiB;
const BIG = 'big.safetensors';
const BIG_SIZE = 16 * MiB;

const session = useBrowser();
let h: UiHub;
let artifacts: Map<string, any>;

beforeAll(async () => {
  h = await startUiHub({
    // The big file takes 8 s at this rate: long enough to be cancelled while it runs (the engine
    // reports progress and writes per 1 MiB).
    throttleBytesPerSecond: 2 * MiB,
    repos: [
      {
        id: REPO,
        files: [
          { path: 'config.json', content: '{"model_type":"bert"}' },
          { path: 'broken.safetensors', content: { size: 32 * KiB, seed: 'broken' } },
          { path: BIG, content: { size: BIG_SIZE, seed: 'big' } },
          { path: 'small-1.safetensors', content: { size: 16 * KiB, seed: 's1' } },
          { path: 'small-2.safetensors', content: { size: 16 * KiB, seed: 's2' } },
          { path: 'small-3.safetensors', content: { size: 16 * KiB, seed: 's3' } },
        ],
      },
    ],
  });
  ({ artifacts } = await registerAndSync(h.t, REPO, 'Acme', 'JobsDemo'));
});
afterAll(async () => {
  await h?.close();
});

const artifactId = (file: string): string => {
  const artifact = artifacts.get(file);
  if (!artifact) throw new Error(`no artifact ${file}`);
  return artifact.id;
};

async function startDownload(file: string): Promise<string> {
  const { status, body } = await h.api('POST', '/v1/hub/download', { artifact_ids: [artifactId(file)] });
  expect(status).toBe(202);
  return body.job_id;
}

describe('jobs', { timeout: UI_TEST_TIMEOUT_MS }, () => {
  it('shows a failed download with its error; after upstream recovers, Retry runs a job that completes', async () => {
    // A file that vanished upstream fails at once (no retries), with the hub's error.
    h.hub.addFault({ filePath: 'broken.safetensors', status: 404, times: 100 });
    const failedId = await startDownload('broken.safetensors');
    const failed = await h.waitForJobStatus(failedId, ['completed', 'failed']);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('HTTP 404');

    const { page } = session;
    await page.goto(`${h.base}/ui/jobs/${failedId}`);
    await page.getByRole('heading', { level: 1, name: `Job ${shortId(failedId)}` }).waitFor();
    await statusText(page, 'failed').waitFor();
    await page
      .getByText(/HTTP 404/)
      .first()
      .waitFor();

    h.hub.clearFaults();
    await page.getByRole('button', { name: 'Retry', exact: true }).click();
    const retried = await waitFor('the retry job', async () => {
      const { body } = await h.api('GET', '/v1/hub/jobs?type=download');
      return body.items.find(
        (j: any) => j.id !== failedId && j.payload?.artifact_ids?.includes(artifactId('broken.safetensors')),
      );
    });
    const done = await h.waitForJobStatus(retried.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    // The page moves to the new job and shows it completed, live.
    await page.getByRole('heading', { level: 1, name: `Job ${shortId(retried.id)}` }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/ui/jobs/${retried.id}`);
    await statusText(page, 'completed').waitFor();
    expect(await page.getByRole('button', { name: 'Retry', exact: true }).count()).toBe(0);
    const artifact = (
      await h.api('GET', `/v1/hub/models/${artifacts.get(BIG).model_id}/artifacts`)
    ).body.items.find((a: any) => a.path === 'broken.safetensors');
    expect(artifact).toMatchObject({
      download_status: 'completed',
      sha256: (await h.hub.fileInfo(REPO, 'broken.safetensors')).sha256,
    });
  });

  it('cancels a running download: the page shows "cancelled" and the partial file is kept', async () => {
    const jobId = await startDownload(BIG);
    const { page } = session;
    await page.goto(`${h.base}/ui/jobs/${jobId}`);
    await page.getByRole('heading', { level: 1, name: `Job ${shortId(jobId)}` }).waitFor();
    // Some bytes arrived (the per-file bar is part-way) before the cancel.
    const bar = page.getByRole('progressbar', { name: BIG, exact: true });
    await waitFor(
      'the bar to move',
      async () => {
        const now = Number(await bar.getAttribute('aria-valuenow', { timeout: 1000 }));
        return now > 0 ? now : undefined;
      },
      10_000,
    );
    await statusText(page, 'running').waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await statusText(page, 'cancelled').waitFor();

    const job = await h.waitForJobStatus(jobId, ['cancelled']);
    expect(job.status).toBe('cancelled');
    const artifact = (
      await h.api('GET', `/v1/hub/models/${artifacts.get(BIG).model_id}/artifacts`)
    ).body.items.find((a: any) => a.path === BIG);
    // Its file goes back to pending, with what arrived counted.
    expect(artifact.download_status).toBe('pending');
    expect(artifact.bytes_downloaded).toBeGreaterThan(0);
    expect(artifact.bytes_downloaded).toBeLessThan(BIG_SIZE);
    // The partial stays in temp/ for a later resume.
    const temp = path.join(h.t.storePath, 'temp');
    const partials = await Promise.all(
      (await fs.readdir(temp, { recursive: true })).map(async (name) => {
        const stat = await fs.stat(path.join(temp, String(name)));
        return stat.isFile() ? stat.size : 0;
      }),
    );
    expect(Math.max(0, ...partials), `temp/ holds the partial file`).toBeGreaterThanOrEqual(
      artifact.bytes_downloaded,
    );
  });

  /**
   * Cuts the page's event stream (offline, so it cannot reconnect at once, and every open
   * connection closed by the server), runs a download to its end meanwhile, then goes back online.
   * With `seenBefore`, a job finishes while the page watches first, so the page has a stored
   * event id to resume after; without, the page saw no stored event since it loaded.
   */
  async function dropAndCatchUp(seenBefore: string | undefined, missed: string): Promise<void> {
    const { page, context } = session;
    // The browser itself logs the stream cut mid-response and the reconnections refused while offline.
    session.allowConsoleErrors(
      /^Failed to load resource: net::(ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_INTERNET_DISCONNECTED)$/,
    );
    await page.goto(`${h.base}/ui/jobs`);
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    const indicator = page.getByRole('status').filter({ hasText: /Live|Reconnecting…/ });
    await expect.poll(() => indicator.textContent()).toContain('Live');
    const samePage = await markNoReload(page);
    if (seenBefore !== undefined) {
      const seenId = await startDownload(seenBefore);
      await statusText(jobEntry(page, seenId), 'completed').waitFor();
    }

    await context.setOffline(true);
    h.t.app.http.server.closeAllConnections();
    await expect.poll(() => indicator.textContent(), { timeout: 10_000 }).toContain('Reconnecting…');

    const missedId = await startDownload(missed);
    await h.waitForJobStatus(missedId, ['completed']);
    expect(await jobEntry(page, missedId).count()).toBe(0);

    await context.setOffline(false);
    await expect.poll(() => indicator.textContent(), { timeout: 15_000 }).toContain('Live');
    await statusText(jobEntry(page, missedId), 'completed').waitFor({ timeout: 5000 });
    expect(await samePage(), 'the page was reloaded').toBe(true);
  }

  it('says "Reconnecting…" when the event stream drops, then "Live" again, resumed after the last event it saw', async () => {
    await dropAndCatchUp('small-1.safetensors', 'small-2.safetensors');
  });

  it('catches up after a drop even when it saw no stored event before it', async () => {
    await dropAndCatchUp(undefined, 'small-3.safetensors');
  });
});
