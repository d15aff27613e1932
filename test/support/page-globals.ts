import type axe from 'axe-core';

/**
 * The few browser globals that the tests' in-page functions (`page.evaluate`, init scripts) use,
 * typed by hand: the project's tsconfig has no DOM library, and adding it would let server code
 * use browser globals unnoticed. Use as `globalThis as unknown as PageGlobals` inside the function.
 */
export interface PageGlobals {
  document: { querySelectorAll(selector: string): { length: number } };
  sessionStorage: {
    readonly length: number;
    key(index: number): string | null;
    getItem(key: string): string | null;
  };
  performance: { now(): number; getEntriesByName(name: string): { startTime: number }[] };
  requestAnimationFrame(callback: () => void): number;
  MutationObserver: new (
    callback: () => void,
  ) => { observe(target: unknown, options: { childList: boolean; subtree: boolean }): void };
  axe?: typeof axe;
  /** Markers the tests set on the window. */
  __uiTestMarker?: string;
  __rows?: number;
  __rowsAt?: number;
  __paintedAt?: number;
}
