/**
 * The browser harness of the admin UI tests (test/ui/): Debian's chromium driven by playwright-core
 * (no downloaded browsers), one browser per test file and a fresh context per test. Every console
 * error and uncaught page error fails the test that saw it, unless the test declared it expected
 * (`allowConsoleErrors`, for the few a browser logs on its own: a 401 the UI answers with its key
 * prompt, a stream cut on purpose). `checkAccessibility` runs axe-core in the page; `screenshot`
 * saves PNGs under test-results/ui/<project>/. The UI's static files come from dist/ui, built by
 * `npm run build`; `ensureUiBuilt` rebuilds them once when ui/ is newer.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import axe from 'axe-core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { BACKEND } from './backend.js';
import { CHROMIUM } from './chromium.js';
import type { PageGlobals } from './page-globals.js';

export { browserUnavailable, CHROMIUM } from './chromium.js';

/**
 * A browser test waits on pages, streams and throttled transfers, several seconds each on a busy
 * 2-core machine: more than vitest's default per test.
 */
export const UI_TEST_TIMEOUT_MS = 60_000;

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UI_SOURCES = path.join(ROOT, 'ui');
const UI_INDEX = path.join(ROOT, 'dist', 'ui', 'index.html');
const BUILD_LOCK = path.join(ROOT, 'node_modules', '.cache', 'model-hub-ui-build.lock');
/** A lock older than this belongs to a build that died. */
const STALE_LOCK_MS = 300_000;

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}

/** The newest modification time of the UI's sources (ui/, without node_modules), 0 without any. */
function newestSourceMtimeMs(dir = UI_SOURCES): number {
  let newest = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtimeMs(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

function uiBuildStale(): string | undefined {
  if (!fs.existsSync(UI_SOURCES)) return `${UI_SOURCES} does not exist`;
  if (!fs.existsSync(UI_INDEX)) return `${path.relative(ROOT, UI_INDEX)} is missing`;
  if (fs.statSync(UI_INDEX).mtimeMs < newestSourceMtimeMs()) return 'ui/ is newer than dist/ui';
  return undefined;
}

const run = promisify(execFile);

/**
 * dist/ui built from the current ui/ sources: `npm run build` runs once when index.html is missing
 * or older than a source file. Both vitest projects and their workers agree through a lock file.
 */
export async function ensureUiBuilt(timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  fs.mkdirSync(path.dirname(BUILD_LOCK), { recursive: true });
  for (;;) {
    const stale = uiBuildStale();
    if (stale === undefined) return;
    if (!fs.existsSync(UI_SOURCES)) throw new Error(`The admin UI cannot be tested: ${stale}.`);
    if (takeLock()) {
      try {
        if (uiBuildStale() === undefined) return;
        try {
          await run('npm', ['run', 'build'], { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
        } catch (e) {
          const failed = e as { stdout?: string; stderr?: string };
          throw new Error(
            `The admin UI could not be built (${stale}; \`npm run build\` failed):\n${failed.stdout ?? ''}\n${failed.stderr ?? String(e)}`,
          );
        }
        const after = uiBuildStale();
        if (after !== undefined)
          throw new Error(
            `\`npm run build\` ran but ${after}: does the build script build ui/ into dist/ui?`,
          );
        return;
      } finally {
        fs.rmSync(BUILD_LOCK, { force: true });
      }
    }
    if (Date.now() > deadline)
      throw new Error(`dist/ui still being built by another run after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function takeLock(): boolean {
  try {
    fs.writeFileSync(BUILD_LOCK, String(process.pid), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - fs.statSync(BUILD_LOCK).mtimeMs > STALE_LOCK_MS)
        fs.rmSync(BUILD_LOCK, { force: true });
    } catch {
      // Gone between the two calls: the next round takes it.
    }
    return false;
  }
}

export interface BrowserSession {
  readonly browser: Browser;
  /** This test's context (fresh per test). */
  readonly context: BrowserContext;
  /** This test's first page. */
  readonly page: Page;
  /** A further page in this test's context, watched like the first. */
  newPage(): Promise<Page>;
  /**
   * Console errors matching `pattern` do not fail this test (say why at the call site). Only for
   * messages the browser logs itself for something the test does on purpose.
   */
  allowConsoleErrors(pattern: RegExp): void;
  /**
   * The unexpected console and page errors seen so far in this test, which then no longer fail it
   * (for a test that asserts on them).
   */
  takeErrors(): string[];
}

/**
 * Registers the hooks of a browser test file: the browser is launched before the first test and
 * closed after the last; each test gets a new context and page, and fails in `afterEach` when any
 * unexpected console error or page error appeared.
 */
export function useBrowser(
  options: {
    /** Build dist/ui first (default true; false for tests of the harness itself). */
    ui?: boolean;
  } = {},
): BrowserSession {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let seen: string[] = [];
  let allowed: RegExp[] = [];

  const watch = (p: Page) => {
    p.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      if (allowed.some((pattern) => pattern.test(text))) return;
      const where = message.location();
      seen.push(
        `console.error on ${p.url()}: ${text}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`,
      );
    });
    p.on('pageerror', (error) => {
      seen.push(`uncaught error on ${p.url()}: ${error.stack ?? error.message}`);
    });
  };

  beforeAll(async () => {
    if (options.ui !== false) await ensureUiBuilt();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    if (!browser) throw new Error('the browser did not start');
    seen = [];
    allowed = [];
    context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      // axe-core is evaluated in the page, which a strict Content-Security-Policy would block.
      bypassCSP: true,
    });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    watch(page);
  });
  afterEach(async ({ task }) => {
    const errors = seen;
    // A failed test leaves a picture of the page as it was, next to the screenshots.
    if (task.result?.state === 'fail' && page && !page.isClosed()) {
      const name = `${path.basename(task.file?.name ?? 'test', '.test.ts')}-${task.name}`.replace(
        /[^\w.-]+/g,
        '-',
      );
      await screenshot(page, path.join('failed', name.slice(0, 120))).catch(() => undefined);
    }
    await context?.close();
    context = undefined;
    page = undefined;
    expect(errors, 'console or page errors in the browser').toEqual([]);
  });

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`no ${what}: use the session inside a test`);
    return value;
  };
  return {
    get browser() {
      return need(browser, 'browser');
    },
    get context() {
      return need(context, 'browser context');
    },
    get page() {
      return need(page, 'page');
    },
    async newPage() {
      const p = await need(context, 'browser context').newPage();
      watch(p);
      return p;
    },
    allowConsoleErrors(pattern) {
      allowed.push(pattern);
    },
    takeErrors: () => seen.splice(0),
  };
}

interface AxeNode {
  target: unknown[];
  failureSummary?: string;
  html: string;
}
interface AxeViolation {
  id: string;
  impact?: string | null;
  help: string;
  helpUrl: string;
  nodes: AxeNode[];
}

let axeMinified: string | undefined;
/**
 * axe-core's minified build (what `axe.source` holds, at less than half the size: evaluating the
 * full 1.4 MB source costs seconds per page on a small machine), else `axe.source`.
 */
function axeSource(): string {
  if (axeMinified === undefined) {
    try {
      axeMinified = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    } catch {
      axeMinified = axe.source;
    }
  }
  return axeMinified;
}

/**
 * Runs axe-core (WCAG 2.x A/AA and best-practice rules) on the page as it is now and fails on any
 * `serious` or `critical` violation, listing each rule, its help link and the offending elements.
 */
export async function checkAccessibility(page: Page, label = page.url()): Promise<void> {
  const loaded = await page.evaluate(() => (globalThis as unknown as PageGlobals).axe !== undefined);
  if (!loaded) await page.evaluate(axeSource());
  const violations = await page.evaluate(async () => {
    const inPage = (globalThis as unknown as PageGlobals).axe;
    if (!inPage) throw new Error('axe-core did not load in the page');
    const result = await inPage.run({ resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target as unknown[],
        html: n.html,
        ...(n.failureSummary ? { failureSummary: n.failureSummary } : {}),
      })),
    }));
  });
  const blocking = (violations as AxeViolation[]).filter(
    (v) => v.impact === 'serious' || v.impact === 'critical',
  );
  if (blocking.length === 0) return;
  const report = blocking
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 5)
        .map(
          (n) =>
            `    - ${JSON.stringify(n.target)}: ${n.html.slice(0, 160)}${n.failureSummary ? `\n      ${n.failureSummary.replace(/\n/g, '\n      ')}` : ''}`,
        )
        .join('\n');
      const more = v.nodes.length > 5 ? `\n    … and ${v.nodes.length - 5} more` : '';
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes}${more}`;
    })
    .join('\n');
  throw new Error(`accessibility violations on ${label}:\n${report}`);
}

const SCREENSHOTS = path.join(ROOT, 'test-results', 'ui', BACKEND);

/** Saves a full-page PNG as test-results/ui/<project>/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  return file;
}
