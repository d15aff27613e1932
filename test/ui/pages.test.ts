import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, screenshot, UI_TEST_TIMEOUT_MS, useBrowser } from '../support/browser.js';
import { waitFor } from '../support/child-server.js';
import { registerAndSync } from '../support/test-app.js';
import { jobEntry, markNoReload, shortId, startUiHub, statusText, type UiHub } from '../support/ui-hub.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Every page of the UI with data in it (pages-empty.test.ts has them empty): each renders its
 * heading, logs no error, passes the axe-core check (no serious or critical violation) and is saved
 * as a screenshot in test-results/ui/<project>/.
 */
const REPO = 'acme/pages-demo';
const KiB = 1024;
const MiB = 1024 * KiB;
const SLOW = 'slow.safetensors';

const session = useBrowser();
let h: UiHub;
let receiver: WebhookReceiver;
let modelId: string;
let finishedJobId: string;

beforeAll(async () => {
  h = await startUiHub({
    // The slow file takes 8 s (progress is reported per 1 MiB): a screenshot is taken while it runs.
    throttleBytesPerSecond: 2 * MiB,
    repos: [
      {
        id: REPO,
        files: [
          { path: 'config.json', content: '{"model_type":"mistral"}' },
          { path: 'tokenizer.json', content: '{"version":"1.0"}' },
          { path: 'model.safetensors', content: { size: 48 * KiB, seed: 'model' } },
          { path: SLOW, content: { size: 16 * MiB, seed: 'slow' } },
        ],
      },
    ],
  });
  receiver = await startWebhookReceiver();
  const { model, artifacts } = await registerAndSync(h.t, REPO, 'Acme', 'PagesDemo');
  modelId = model.id;
  const download = await h.api('POST', '/v1/hub/download', {
    artifact_ids: [artifacts.get('model.safetensors').id],
  });
  finishedJobId = download.body.job_id;
  await h.waitForJobStatus(finishedJobId, ['completed']);
  const scan = await h.api('POST', '/v1/hub/scan', {});
  await h.waitForJobStatus(scan.body.job_id, ['completed']);
  const hook = await h.api('POST', '/v1/hub/webhooks', { url: receiver.url, events: ['job.completed'] });
  expect(hook.status).toBe(201);
});
afterAll(async () => {
  await h?.close();
  await receiver?.close();
});

const nav = (page: Page, name: string) =>
  page.getByRole('navigation').getByRole('link', { name, exact: true });

/** Opens `url`, waits for its heading (and for `ready`), checks accessibility and saves a screenshot. */
async function visit(page: Page, url: string, heading: string, name: string, ready?: () => Promise<unknown>) {
  await page.goto(`${h.base}${url}`);
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
  await ready?.();
  await checkAccessibility(page, `${name} (${url})`);
  await screenshot(page, name);
}

describe('pages', { timeout: UI_TEST_TIMEOUT_MS }, () => {
  it('Models: the list and the nav', async () => {
    const { page } = session;
    await visit(page, '/ui/models', 'Models', 'models', async () => {
      await page.getByRole('link', { name: REPO }).waitFor();
      await page.getByRole('button', { name: 'Register', exact: true }).waitFor();
    });
    for (const name of ['Models', 'Jobs', 'Storage', 'Webhooks']) await nav(page, name).waitFor();
    // The nav links lead to the pages, client-side.
    const samePage = await markNoReload(page);
    await nav(page, 'Jobs').click();
    await page.getByRole('heading', { level: 1, name: 'Jobs', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/ui/jobs');
    expect(await samePage()).toBe(true);
  });

  it('a model page', async () => {
    const { page } = session;
    await visit(page, `/ui/models/${modelId}`, REPO, 'model', () =>
      statusText(page.getByRole('row').filter({ hasText: 'model.safetensors' }), 'completed').waitFor(),
    );
  });

  it('Jobs', async () => {
    const { page } = session;
    await visit(page, '/ui/jobs', 'Jobs', 'jobs', () =>
      statusText(jobEntry(page, finishedJobId), 'completed').waitFor(),
    );
  });

  it('a job page', async () => {
    const { page } = session;
    await visit(page, `/ui/jobs/${finishedJobId}`, `Job ${shortId(finishedJobId)}`, 'job', () =>
      statusText(page, 'completed').waitFor(),
    );
  });

  it('Storage', async () => {
    const { page } = session;
    await visit(page, '/ui/storage', 'Storage', 'storage', async () => {
      for (const name of ['Start scan', 'Deep scan', 'GC dry run'])
        await page.getByRole('button', { name, exact: true }).waitFor();
    });
  });

  it('Webhooks', async () => {
    const { page } = session;
    await visit(page, '/ui/webhooks', 'Webhooks', 'webhooks', async () => {
      await page.getByText(receiver.url).first().waitFor();
      await page.getByRole('button', { name: 'Add webhook', exact: true }).waitFor();
    });
  });

  it('renders the Jobs page mid-download with a job progress bar part-way', async () => {
    const { page } = session;
    const artifacts = (await h.api('GET', `/v1/hub/models/${modelId}/artifacts`)).body.items as any[];
    const slow = artifacts.find((a) => a.path === SLOW);
    const started = await h.api('POST', '/v1/hub/download', { artifact_ids: [slow.id] });
    const jobId: string = started.body.job_id;
    await page.goto(`${h.base}/ui/jobs`);
    await page.getByRole('heading', { level: 1, name: 'Jobs', exact: true }).waitFor();
    const bar = page.getByRole('progressbar', { name: `Job ${shortId(jobId)}`, exact: true });
    await waitFor(
      'the job bar part-way',
      async () => {
        const [now, max] = await Promise.all([
          bar.getAttribute('aria-valuenow', { timeout: 1000 }),
          bar.getAttribute('aria-valuemax', { timeout: 1000 }),
        ]);
        const fraction = Number(now) / Number(max ?? 100);
        return fraction > 0 && fraction < 0.75 ? fraction : undefined;
      },
      10_000,
    );
    await statusText(jobEntry(page, jobId), 'running').waitFor();
    await screenshot(page, 'jobs-mid-download');
    // The picture shows the transfer under way: the job was still running after it was taken.
    expect((await h.api('GET', `/v1/hub/jobs/${jobId}`)).body.status).toBe('running');
    await checkAccessibility(page, 'jobs mid-download');
    // Not waited for: cancelled, so the hub closes at once.
    expect((await h.api('POST', `/v1/hub/jobs/${jobId}/cancel`)).status).toBeLessThan(300);
    await h.waitForJobStatus(jobId, ['cancelled']);
  });
});
