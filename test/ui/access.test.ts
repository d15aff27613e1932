import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UI_TEST_TIMEOUT_MS, useBrowser } from '../support/browser.js';
import { waitFor } from '../support/child-server.js';
import type { PageGlobals } from '../support/page-globals.js';
import { startUiHub, statusText, type UiHub } from '../support/ui-hub.js';

/**
 * The UI with access control on (a key exists): it asks for a key, keeps it for the session, and
 * offers only what the key's scope allows — lists for a read key, the write actions for a write key,
 * deleting for an admin key (as the API's route scopes say).
 */
const REPO = 'acme/guarded';

const session = useBrowser();
let h: UiHub;
const keys = {} as Record<'admin' | 'read' | 'write', string>;
let modelId: string;

beforeAll(async () => {
  h = await startUiHub({
    repos: [
      {
        id: REPO,
        files: [
          { path: 'config.json', content: '{"model_type":"bert"}' },
          { path: 'model.safetensors', content: { size: 4096, seed: 'guarded' } },
        ],
      },
    ],
  });
  // While no key exists a loopback hub is open: the first admin key is made through the API.
  for (const scope of ['admin', 'read', 'write'] as const) {
    const created = await h.api('POST', '/v1/hub/keys', { scope, name: `ui-${scope}` }, keys.admin);
    expect(created.status).toBe(201);
    keys[scope] = created.body.key;
  }
  expect((await h.api('GET', '/v1/hub/models')).status).toBe(401);
  const registered = await h.api(
    'POST',
    '/v1/hub/register',
    { vendor: 'Acme', name: 'Guarded', source_repo_id: REPO, auto_sync: true },
    keys.admin,
  );
  expect(registered.status).toBe(201);
  modelId = registered.body.id;
  await h.waitForJobStatus(registered.body.sync_job_id, ['completed'], keys.admin);
});
afterAll(async () => {
  await h?.close();
});

/** Opens a page without a key and enters `key` in the prompt the 401 brings up. */
async function signIn(page: Page, key: string, url = '/ui/models'): Promise<void> {
  // The browser logs every refused request itself; the UI answers the first ones with the prompt.
  session.allowConsoleErrors(/Failed to load resource: the server responded with a status of 401/);
  await page.goto(`${h.base}${url}`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Use key', exact: true }).click();
  await page.getByLabel('API key', { exact: true }).waitFor({ state: 'hidden' });
}

/** Every value in the page's sessionStorage. */
function sessionValues(): (string | null)[] {
  const storage = (globalThis as unknown as PageGlobals).sessionStorage;
  return Array.from({ length: storage.length }, (_, i) => storage.getItem(storage.key(i) ?? ''));
}

const button = (page: Page, name: string) => page.getByRole('button', { name, exact: true });

describe('access', { timeout: UI_TEST_TIMEOUT_MS }, () => {
  it('asks for an API key, and with a read key shows the lists but no write actions', async () => {
    const { page } = session;
    session.allowConsoleErrors(/Failed to load resource: the server responded with a status of 401/);
    await page.goto(`${h.base}/ui/models`);
    await page.getByLabel('API key', { exact: true }).waitFor();
    await expect.poll(() => button(page, 'Use key').isVisible()).toBe(true);
    // Nothing of the hub's data shows before a key is given.
    expect(await page.getByRole('link', { name: REPO }).count()).toBe(0);

    await signIn(page, keys.read);
    await page.getByRole('link', { name: REPO }).waitFor();
    expect(await button(page, 'Register').count()).toBe(0);

    await page.getByRole('link', { name: REPO }).click();
    await page.getByRole('heading', { level: 1, name: REPO }).waitFor();
    await page.getByRole('cell', { name: 'model.safetensors', exact: true }).waitFor();
    for (const name of ['Register', 'Delete', 'Sync', 'Download selected', 'Download all'])
      expect(await button(page, name).count(), name).toBe(0);

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    await statusText(page, 'completed').waitFor();

    // The key lasts for the browser session: a reload does not ask again.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    await statusText(page, 'completed').waitFor();
    expect(await page.getByLabel('API key', { exact: true }).count()).toBe(0);
    expect(await page.evaluate(sessionValues)).toContain(keys.read);
  });

  it('with a write key shows Register and Sync, and its actions are accepted; Delete needs an admin key', async () => {
    const { page } = session;
    await signIn(page, keys.write);
    await page.getByRole('link', { name: REPO }).waitFor();
    await button(page, 'Register').waitFor();
    await button(page, 'Sync').waitFor();
    // Deleting a model is an admin action (DELETE /v1/hub/models/{id} needs the admin scope).
    expect(await button(page, 'Delete').count()).toBe(0);

    await page.getByRole('link', { name: REPO }).click();
    await page.getByRole('heading', { level: 1, name: REPO }).waitFor();
    await button(page, 'Download selected').waitFor();
    const before = (await h.api('GET', '/v1/hub/jobs?type=sync', undefined, keys.read)).body.items.length;
    await button(page, 'Sync').click();
    const sync = await waitFor('a second sync job', async () => {
      const { body } = await h.api('GET', '/v1/hub/jobs?type=sync', undefined, keys.read);
      return body.items.length > before ? body.items[0] : undefined;
    });
    expect(sync.payload).toMatchObject({ model_id: modelId, repo_id: REPO });
    await h.waitForJobStatus(sync.id, ['completed'], keys.read);
  });

  it('with an admin key shows Delete too', async () => {
    const { page } = session;
    await signIn(page, keys.admin);
    await page.getByRole('link', { name: REPO }).waitFor();
    for (const name of ['Register', 'Sync', 'Delete']) await button(page, name).waitFor();
  });

  it('a new browser session asks for the key again', async () => {
    const { page } = session;
    session.allowConsoleErrors(/Failed to load resource: the server responded with a status of 401/);
    await page.goto(`${h.base}/ui/jobs`);
    await page.getByLabel('API key', { exact: true }).waitFor();
    expect(await page.evaluate(sessionValues)).not.toContain(keys.write);
  });
});
