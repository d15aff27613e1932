import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccessibility, screenshot, UI_TEST_TIMEOUT_MS, useBrowser } from '../support/browser.js';
import { startUiHub, type UiHub } from '../support/ui-hub.js';

/**
 * The pages of a fresh hub (no model, job or webhook yet): each renders its heading and empty state,
 * logs no error, passes the axe-core check and is saved as test-results/ui/<project>/empty-*.png.
 * Apart from pages.test.ts so that the two files run side by side.
 */
const session = useBrowser();
let empty: UiHub;

beforeAll(async () => {
  empty = await startUiHub();
});
afterAll(async () => {
  await empty?.close();
});

describe('pages of an empty hub', { timeout: UI_TEST_TIMEOUT_MS }, () => {
  it('renders every list empty: no errors, accessible, screenshots saved', async () => {
    const { page } = session;
    for (const [url, heading, emptyText] of [
      ['/ui/models', 'Models', 'No models yet.'],
      ['/ui/jobs', 'Jobs', 'No jobs yet.'],
      ['/ui/storage', 'Storage', 'No models hold files yet.'],
      ['/ui/webhooks', 'Webhooks', 'No webhooks yet.'],
    ] as const) {
      await page.goto(`${empty.base}${url}`);
      await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
      await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
      const emptyState = page.getByText(emptyText, { exact: true });
      await emptyState.waitFor();
      expect(await emptyState.count(), `${heading}: its empty state`).toBe(1);
      expect(await page.locator('tbody tr').count(), `${heading}: no rows`).toBe(0);
      await checkAccessibility(page, `empty ${heading}`);
      await screenshot(page, `empty-${heading.toLowerCase()}`);
    }
    // The register form is there to start with.
    await page.goto(`${empty.base}/ui/models`);
    const register = page.getByRole('button', { name: 'Register', exact: true });
    await register.waitFor();
    expect(await register.isEnabled()).toBe(true);
  });
});
