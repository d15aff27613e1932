import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UI_TEST_TIMEOUT_MS, useBrowser } from '../support/browser.js';
import { waitFor } from '../support/child-server.js';
import {
  expectMoved,
  jobEntry,
  markNoReload,
  startUiHub,
  statusText,
  type UiHub,
  watchProgress,
} from '../support/ui-hub.js';

/**
 * The main flow in the browser: register a repo from the form, watch its sync job run and finish
 * on the Jobs page (live, no reload), then pick two weight files on the model page and watch their
 * progress bars move until they are stored.
 */
const REPO = 'acme/tiny-llm';
const KiB = 1024;
const MiB = 1024 * KiB;
const WEIGHTS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];

const session = useBrowser();
let h: UiHub;

beforeAll(async () => {
  h = await startUiHub({
    // 3 MiB per file at 2 MiB/s: 1.5 s each (in parallel). The engine reports progress per 1 MiB
    // written, so each bar shows two values part-way, half a second apart.
    throttleBytesPerSecond: 2 * MiB,
    repos: [
      {
        id: REPO,
        files: [
          { path: 'config.json', content: '{"model_type":"llama"}' },
          { path: 'tokenizer.json', content: '{"version":"1.0"}' },
          { path: WEIGHTS[0] as string, content: { size: 3 * MiB, seed: 'w1' } },
          { path: WEIGHTS[1] as string, content: { size: 3 * MiB, seed: 'w2' } },
          { path: 'original/consolidated.pth', content: { size: 64 * KiB, seed: 'pth' } },
        ],
      },
    ],
  });
});
afterAll(async () => {
  await h?.close();
});

describe('models', { timeout: UI_TEST_TIMEOUT_MS }, () => {
  it('registers a repo from the form; its sync job appears and completes live on the Jobs page', async () => {
    const jobsPage = await session.newPage();
    await jobsPage.goto(`${h.base}/ui/jobs`);
    await jobsPage.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    await jobsPage.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    const samePage = await markNoReload(jobsPage);

    // The sync's first metadata fetch answers 503 once with Retry-After: 1: the job lasts a second.
    h.hub.addFault({ filePath: 'config.json', status: 503, retryAfterSeconds: 1 });
    const { page } = session;
    await page.goto(`${h.base}/ui/models`);
    await page.getByRole('heading', { level: 1, name: 'Models' }).waitFor();
    await page.getByLabel('Vendor', { exact: true }).fill('Acme');
    await page.getByLabel('Name', { exact: true }).fill('TinyLLM');
    await page.getByLabel('Repo id', { exact: true }).fill(REPO);
    await page.getByLabel('Auto-sync', { exact: true }).check();
    await page.getByRole('button', { name: 'Register', exact: true }).click();

    const model = await waitFor('the registered model', async () => {
      const { body } = await h.api('GET', '/v1/hub/models');
      return body.items.find((m: any) => m.repo_id === REPO);
    });
    expect(model).toMatchObject({ vendor: 'Acme', name: 'TinyLLM', revision: 'main' });
    const sync = await waitFor('the sync job', async () => {
      const { body } = await h.api('GET', '/v1/hub/jobs?type=sync');
      return body.items[0];
    });
    // The registered model shows in the list on the page it was registered from.
    await page.getByRole('link', { name: REPO }).waitFor();

    const row = jobEntry(jobsPage, sync.id);
    await row.waitFor();
    await statusText(row, 'completed').waitFor({ timeout: 20_000 });
    expect((await h.api('GET', `/v1/hub/jobs/${sync.id}`)).body.status).toBe('completed');
    expect(await samePage(), 'the Jobs page was reloaded').toBe(true);
  });

  it('downloads two selected artifacts with progress bars that move until completed', async () => {
    const { page } = session;
    const model = (await h.api('GET', '/v1/hub/models')).body.items.find((m: any) => m.repo_id === REPO);
    expect(model, 'the previous test registers the repo').toBeDefined();
    await page.goto(`${h.base}/ui/models`);
    await page.getByRole('link', { name: REPO }).click();
    await page.getByRole('heading', { level: 1, name: REPO }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/ui/models/${model.id}`);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    const samePage = await markNoReload(page);

    for (const path of WEIGHTS) await page.getByRole('checkbox', { name: path, exact: true }).check();
    await page.getByRole('button', { name: 'Download selected', exact: true }).click();

    const bars = WEIGHTS.map((path) => page.getByRole('progressbar', { name: path, exact: true }));
    const seen = await Promise.all(bars.map((bar) => watchProgress(bar)));
    WEIGHTS.forEach((path, i) => {
      expectMoved(seen[i] ?? [], path);
    });

    const download = await waitFor('the download job', async () => {
      const { body } = await h.api('GET', '/v1/hub/jobs?type=download');
      return body.items[0];
    });
    await h.waitForJobStatus(download.id, ['completed']);
    const artifacts = (await h.api('GET', `/v1/hub/models/${model.id}/artifacts`)).body.items as any[];
    const idOf = (path: string) => artifacts.find((a) => a.path === path)?.id;
    // Exactly the two selected files, in one job.
    expect([...download.payload.artifact_ids].sort()).toEqual(WEIGHTS.map(idOf).sort());
    // Both files end "completed" on the page, without a reload.
    for (const path of WEIGHTS) {
      const artifactRow = page
        .getByRole('row')
        .filter({ has: page.getByRole('checkbox', { name: path, exact: true }) });
      await statusText(artifactRow, 'completed').waitFor();
    }
    expect(await samePage(), 'the model page was reloaded').toBe(true);
    const after = (await h.api('GET', `/v1/hub/models/${model.id}/artifacts`)).body.items as any[];
    for (const path of WEIGHTS) {
      const artifact = after.find((a) => a.path === path);
      expect(artifact).toMatchObject({
        download_status: 'completed',
        bytes_downloaded: 3 * MiB,
        sha256: (await h.hub.fileInfo(REPO, path)).sha256,
      });
    }
    expect(after.find((a) => a.path === 'original/consolidated.pth')?.download_status).toBe('pending');
  });
});
