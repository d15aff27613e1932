/**
 * `npm run bench:ui`: how fast the admin UI's Jobs page shows a long list. Seeds BENCH_UI_JOBS jobs
 * (default 1,000; finished as they are made, so no worker runs them) on the backend of
 * MODEL_HUB_TEST_BACKEND, opens /ui/jobs in Debian's chromium RUNS times (default 5, each in a fresh
 * browser context, so nothing is cached) and prints, from navigation start: the first contentful
 * paint, the moment the list's last row is in the document, and the first frame painted after it.
 * When the page shows the list in pages, it also times loading the rest with "Load more". Prints
 * the median of each; asserts nothing.
 */

import type { Page } from 'playwright-core';
import { newId, nowIso } from '../src/clock.js';
import { JobsRepository } from '../src/db/jobs.repo.js';
import { startFakeHub } from '../test/fake-hub/fake-hub.js';
import { BACKEND } from '../test/support/backend.js';
import { browserUnavailable, ensureUiBuilt, launchBrowser } from '../test/support/browser.js';
import type { PageGlobals } from '../test/support/page-globals.js';
import { startTestApp } from '../test/support/test-app.js';

const JOBS = Number(process.env.BENCH_UI_JOBS ?? 1000);
const RUNS = Number(process.env.BENCH_UI_RUNS ?? 5);
/** A run whose list never reaches JOBS rows (a paginated page) is measured at the rows it shows. */
const LIST_TIMEOUT_MS = 30_000;
/** The list counts as complete once it has not grown for this long. */
const SETTLE_MS = 1000;
/** A job row: an element linking to its job page. */
const ROW = 'a[href*="/ui/jobs/"]';

const missing = browserUnavailable();
if (missing) {
  console.error(`bench:ui needs chromium: ${missing}`);
  process.exit(1);
}
await ensureUiBuilt();

const hub = await startFakeHub();
const t = await startTestApp(hub.url);
const browser = await launchBrowser();
try {
  const jobs = new JobsRepository(t.app.db);
  const seedStarted = performance.now();
  for (let i = 0; i < JOBS; i++) {
    const id = newId();
    const type = i % 3 === 0 ? 'sync' : 'download';
    await jobs.insert({
      id,
      type,
      payload: JSON.stringify({ artifact_ids: [newId()] }),
      createdAt: nowIso(),
    });
    await jobs.finish(
      id,
      i % 10 === 0
        ? { status: 'failed', at: nowIso(), error: `HTTP 404 for file-${i}.safetensors` }
        : { status: 'completed', at: nowIso() },
    );
  }
  const base = await t.listen();
  console.log(
    `${BACKEND}: seeded ${JOBS.toLocaleString('en-US')} jobs in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s; ${RUNS} runs of ${base}/ui/jobs`,
  );

  type Marks = { rows: number; rowsAt: number; paintedAt: number };
  const marks = (page: Page) =>
    page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      return {
        rows: w.__rows ?? 0,
        rowsAt: w.__rowsAt ?? Number.NaN,
        paintedAt: w.__paintedAt ?? Number.NaN,
      };
    });
  /** Waits until the list has JOBS rows, or has stopped growing for SETTLE_MS, and its last growth is painted. */
  const settled = async (page: Page): Promise<Marks> => {
    const deadline = Date.now() + LIST_TIMEOUT_MS;
    let last = await marks(page);
    let since = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await marks(page);
      if (now.rows !== last.rows) since = Date.now();
      last = now;
      const painted = now.paintedAt >= now.rowsAt;
      if (painted && (now.rows >= JOBS || (now.rows > 0 && Date.now() - since > SETTLE_MS))) return now;
      if (Date.now() > deadline)
        throw new Error(`the jobs list did not settle in ${LIST_TIMEOUT_MS} ms: ${JSON.stringify(now)}`);
    }
  };

  /** Waits until the list has more than `rows` rows and that growth is painted (no settling wait). */
  const grown = async (page: Page, rows: number): Promise<void> => {
    const deadline = Date.now() + LIST_TIMEOUT_MS;
    for (;;) {
      const now = await marks(page);
      if (now.rows > rows && now.paintedAt >= now.rowsAt) return;
      if (Date.now() > deadline) throw new Error(`"Load more" added no rows in ${LIST_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const results: { fcp: number; first: Marks; all: Marks | undefined; loadMore: number }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    // From inside the page: when the number of job rows last grew (a MutationObserver runs in the
    // same task as the change) and the frame after that (painted by then: two animation frames).
    // (No named function inside: tsx keeps names with a helper the page does not have.)
    await page.addInitScript((selector) => {
      const w = globalThis as unknown as PageGlobals;
      new w.MutationObserver(() => {
        const rows = w.document.querySelectorAll(selector).length;
        if (rows <= (w.__rows ?? 0)) return;
        const at = w.performance.now();
        w.__rows = rows;
        w.__rowsAt = at;
        w.requestAnimationFrame(() =>
          w.requestAnimationFrame(() => {
            if (w.__rowsAt === at) w.__paintedAt = w.performance.now();
          }),
        );
      }).observe(w.document, { childList: true, subtree: true });
    }, ROW);
    await page.goto(`${base}/ui/jobs`, { waitUntil: 'commit' });
    const first = await settled(page);
    const fcp = await page.evaluate(
      () =>
        (globalThis as unknown as PageGlobals).performance.getEntriesByName('first-contentful-paint')[0]
          ?.startTime ?? Number.NaN,
    );
    // A paginated list: the rest through its "Load more" button, timed from the first click.
    let all: Marks | undefined;
    let loadMore = 0;
    const more = page.getByRole('button', { name: 'Load more', exact: true });
    if (first.rows < JOBS && (await more.count()) > 0) {
      const startedAt = await page.evaluate(() => (globalThis as unknown as PageGlobals).performance.now());
      while ((await marks(page)).rows < JOBS && (await more.isVisible())) {
        const before = (await marks(page)).rows;
        await more.click();
        loadMore += 1;
        await grown(page, before);
      }
      const end = await marks(page);
      all = { ...end, rowsAt: end.rowsAt - startedAt, paintedAt: end.paintedAt - startedAt };
    }
    results.push({ fcp, first, all, loadMore });
    console.log(
      `run ${run}: first contentful paint ${fcp.toFixed(0)} ms; ${first.rows.toLocaleString('en-US')} rows in the document at ${first.rowsAt.toFixed(0)} ms, painted by ${first.paintedAt.toFixed(0)} ms${all ? `; all ${all.rows.toLocaleString('en-US')} after ${loadMore} × "Load more": painted ${all.paintedAt.toFixed(0)} ms after the first click` : ''}`,
    );
    await context.close();
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const ms = (values: number[]) => `${median(values).toFixed(0)} ms`;
  const withAll = results.flatMap((r) => (r.all ? [r.all] : []));
  console.log(
    `median of ${RUNS}: first contentful paint ${ms(results.map((r) => r.fcp))}; first ${median(results.map((r) => r.first.rows))} rows in the document at ${ms(results.map((r) => r.first.rowsAt))}, painted by ${ms(results.map((r) => r.first.paintedAt))}${withAll.length ? `; all ${median(withAll.map((m) => m.rows))} rows painted ${ms(withAll.map((m) => m.paintedAt))} after the first "Load more"` : ''}`,
  );
} finally {
  await browser.close();
  await t.close();
  await hub.close();
}
