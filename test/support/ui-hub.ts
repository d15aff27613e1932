import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { type FakeHub, type FakeRepoSpec, startFakeHub } from '../fake-hub/fake-hub.js';
import { waitFor } from './child-server.js';
import type { PageGlobals } from './page-globals.js';
import { startTestApp, type TestApp } from './test-app.js';

/**
 * One hub for a browser test file: the fake upstream (throttled on its CDN when asked, so progress
 * bars have time to move), the app on this run's backend listening on a loopback port (the browser
 * needs a real socket; in-process, as the other integration tests run it), and a JSON client that
 * can send a key. Progress is published every 100 ms instead of every second.
 */
export interface UiHub {
  hub: FakeHub;
  t: TestApp;
  /** `http://127.0.0.1:<port>`. */
  base: string;
  api<T = any>(
    method: string,
    url: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: T }>;
  /** Polls a job (through the API) until `status` is one of `want`. */
  waitForJobStatus(jobId: string, want: string[], key?: string, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export async function startUiHub(
  options: { throttleBytesPerSecond?: number; repos?: FakeRepoSpec[]; env?: Record<string, string> } = {},
): Promise<UiHub> {
  const hub = await startFakeHub(
    options.throttleBytesPerSecond ? { throttleBytesPerSecond: options.throttleBytesPerSecond } : {},
  );
  for (const repo of options.repos ?? []) await hub.addRepo(repo);
  const t = await startTestApp(hub.url, { PROGRESS_INTERVAL_MS: '100', ...options.env });
  const base = await t.listen();
  const api: UiHub['api'] = async (method, url, body, key) => {
    const response = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    hub,
    t,
    base,
    api,
    waitForJobStatus: (jobId, want, key, timeoutMs = 20_000) =>
      waitFor(
        `job ${jobId} to be ${want.join(' or ')}`,
        async () => {
          const { body } = await api('GET', `/v1/hub/jobs/${jobId}`, undefined, key);
          return want.includes(body.status) ? body : undefined;
        },
        timeoutMs,
      ),
    async close() {
      await t.close();
      await hub.close();
    },
  };
}

/** The id as the UI shortens it: the job page's heading is `Job <first 8 chars>`. */
export const shortId = (id: string) => id.slice(0, 8);

/**
 * Reads a progress bar over time until it reaches its maximum, returning every distinct
 * aria-valuenow it showed (as a fraction of aria-valuemax, 100 when unset). The bar may disappear
 * once its transfer is over; the values seen until then are returned.
 */
export async function watchProgress(bar: Locator, timeoutMs = 20_000): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const values = await bar
      .evaluate(
        (el) => [el.getAttribute('aria-valuenow'), el.getAttribute('aria-valuemax')] as const,
        undefined,
        {
          timeout: 500,
        },
      )
      .catch(() => undefined);
    if (values === undefined) {
      if (seen.length > 0) break;
    } else if (values[0] !== null) {
      const fraction = Number(values[0]) / Number(values[1] ?? 100);
      if (seen.at(-1) !== fraction) seen.push(fraction);
      if (fraction >= 1) break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return seen;
}

/** Asserts that a progress bar was seen part-way and later further along. */
export function expectMoved(values: number[], what: string): void {
  const partial = values.filter((v) => v > 0 && v < 1);
  expect(partial.length, `${what}: values seen ${JSON.stringify(values)}`).toBeGreaterThan(0);
  const first = partial[0] ?? 0;
  expect(Math.max(...values), `${what}: values seen ${JSON.stringify(values)}`).toBeGreaterThan(first);
}

/** Sets a marker on the page's window: gone after any reload or navigation that is not client-side. */
export async function markNoReload(page: Page): Promise<() => Promise<boolean>> {
  const token = `${Date.now()}-${Math.random()}`;
  await page.evaluate((value) => {
    (globalThis as unknown as PageGlobals).__uiTestMarker = value;
  }, token);
  return () =>
    page.evaluate((value) => (globalThis as unknown as PageGlobals).__uiTestMarker === value, token);
}

/**
 * A job's row in a list (a table row or a list item): the one linking to its page or showing its
 * short id.
 */
export function jobEntry(page: Page, jobId: string): Locator {
  const rows = page.getByRole('row').or(page.getByRole('listitem'));
  return rows
    .filter({ has: page.locator(`a[href$="/jobs/${jobId}"]`) })
    .or(rows.filter({ hasText: shortId(jobId) }))
    .first();
}

/** A status shown as text (visible: a filter's hidden `<option>running</option>` does not count). */
export function statusText(scope: Page | Locator, status: string): Locator {
  return scope.getByText(status, { exact: true }).filter({ visible: true }).first();
}
