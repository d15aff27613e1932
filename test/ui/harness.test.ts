import { describe, expect, it } from 'vitest';
import { checkAccessibility, useBrowser } from '../support/browser.js';
import { waitFor } from '../support/child-server.js';

/**
 * The browser harness itself, on pages of its own (no hub): it catches console and page errors,
 * and its accessibility check fails on a serious violation with a readable report.
 */
const session = useBrowser({ ui: false });

const PAGE = (body: string) =>
  `<!doctype html><html lang="en"><head><title>Harness</title></head><body><main><h1>Harness</h1>${body}</main></body></html>`;

describe('browser harness', () => {
  it('records console errors and uncaught page errors, except the ones a test allows', async () => {
    const { page } = session;
    session.allowConsoleErrors(/^expected by the test$/);
    await page.setContent(
      PAGE(`<script>
        console.error('expected by the test');
        console.error('something broke');
        setTimeout(() => { throw new Error('uncaught in the page'); });
      </script>`),
    );
    const seen: string[] = [];
    await waitFor(
      'two errors',
      async () => {
        seen.push(...session.takeErrors());
        return seen.length >= 2 ? true : undefined;
      },
      5000,
    );
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatch(/^console\.error on .*: something broke/);
    expect(seen[1]).toMatch(/^uncaught error on .*uncaught in the page/);
  });

  it('passes an accessible page and reports a serious violation by rule and element', async () => {
    const { page } = session;
    await page.setContent(PAGE('<p>Fine.</p><button type="button">Go</button>'));
    await checkAccessibility(page, 'fine');
    await page.setContent(
      PAGE('<button type="button" id="nameless"></button><img src="data:," id="no-alt">'),
    );
    const failure = await checkAccessibility(page, 'broken').then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(failure).toContain('accessibility violations on broken');
    expect(failure).toMatch(/\[critical\] button-name: .*\n {4}- \["#nameless"\]/);
    expect(failure).toMatch(/\[critical\] image-alt: /);
  });
});
