import fs from 'node:fs';

/**
 * Where the browser tests find Debian's chromium, kept apart from browser.ts so that
 * vitest.config.ts can ask whether it is there without loading playwright-core.
 */
export const CHROMIUM = process.env.MODEL_HUB_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can (read by vitest.config.ts). */
export function browserUnavailable(): string | undefined {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return undefined;
  } catch {
    return `${CHROMIUM} not found (apt-get install chromium)`;
  }
}
