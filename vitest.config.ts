import { defineConfig, type TestProjectInlineConfiguration, type ViteUserConfig } from 'vitest/config';
import { browserUnavailable } from './test/support/chromium.js';
import { pythonClientUnavailable } from './test/support/python-client.js';
import { reachable } from './test/support/reachable.js';

/**
 * Two projects, one test code: `embedded` runs everything on SQLite and the in-process queue;
 * `distributed` runs the integration and end-to-end suites again on PostgreSQL + BullMQ/Redis
 * (MODEL_HUB_TEST_BACKEND=distributed, read by test/support/backend.ts). Without both servers the
 * distributed project is left out with one line saying so, unless MODEL_HUB_REQUIRE_DISTRIBUTED=1
 * (CI), which makes it an error. The same goes for the official Python client's suite without python3
 * or its wheel (MODEL_HUB_REQUIRE_PYTHON_CLIENT=1), and for the admin UI's browser tests without
 * /usr/bin/chromium (MODEL_HUB_REQUIRE_BROWSER=1).
 */
const INTEGRATION = [
  'test/app-recovery.test.ts',
  'test/db/connection.test.ts',
  'test/http/**/*.test.ts',
  'test/tasks/**/*.test.ts',
  // readme-flow walks the README's quick start, which is the embedded default by definition.
  'test/e2e/crash-resume.test.ts',
  'test/e2e/cli.test.ts',
  'test/e2e/export.test.ts',
  'test/e2e/keys-cli.test.ts',
  'test/e2e/job-control-cli.test.ts',
  'test/distributed/**/*.test.ts',
  'test/ui/**/*.test.ts',
];
const PYTHON_CLIENT = 'test/http/mirror-python.test.ts';
const BROWSER = 'test/ui/**';

/** vitest evaluates this config once for the root and once per project: each line is printed once. */
const shared = globalThis as { modelHubConfigLines?: Set<string> };
shared.modelHubConfigLines ??= new Set();
const printedLines = shared.modelHubConfigLines;
function warnOnce(line: string): void {
  if (printedLines.has(line)) return;
  printedLines.add(line);
  console.warn(line);
}

export default defineConfig(async (): Promise<ViteUserConfig> => {
  const [postgres, redis] = await Promise.all([reachable(5432), reachable(6379)]);
  const distributed = postgres && redis;
  if (!distributed) {
    const missing = [postgres ? '' : 'PostgreSQL on 127.0.0.1:5432', redis ? '' : 'Redis on 127.0.0.1:6379']
      .filter(Boolean)
      .join(' and ');
    const line = `The PostgreSQL/Redis (distributed) suite did not run: ${missing} not reachable.`;
    if (process.env.MODEL_HUB_REQUIRE_DISTRIBUTED === '1') throw new Error(line);
    warnOnce(line);
  }
  const pythonMissing = pythonClientUnavailable();
  if (pythonMissing) {
    const line = `The Python-client suite did not run: ${pythonMissing}.`;
    if (process.env.MODEL_HUB_REQUIRE_PYTHON_CLIENT === '1') throw new Error(line);
    warnOnce(line);
  }
  const browserMissing = browserUnavailable();
  if (browserMissing) {
    const line = `The admin UI browser suite did not run: ${browserMissing}.`;
    if (process.env.MODEL_HUB_REQUIRE_BROWSER === '1') throw new Error(line);
    warnOnce(line);
  }
  const unavailable = [...(pythonMissing ? [PYTHON_CLIENT] : []), ...(browserMissing ? [BROWSER] : [])];
  return {
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: 'forks',
      // Most files wait on sockets, child processes and throttled transfers, not the CPU: two at once
      // halve the wall time on a 2-core machine (vitest's default there is one).
      maxWorkers: 2,
      // Each test file starts its own app, fake hub and databases: nothing is shared through modules,
      // so a worker process runs file after file without re-importing the app (about 1.3 s a file).
      isolate: false,
      projects: [
        {
          extends: true,
          test: {
            name: 'embedded',
            include: ['test/**/*.test.ts'],
            exclude: ['test/distributed/**', ...unavailable],
          },
        },
        ...(distributed
          ? ([
              {
                extends: true,
                test: {
                  name: 'distributed',
                  include: INTEGRATION,
                  ...(unavailable.length > 0 ? { exclude: unavailable } : {}),
                  env: { MODEL_HUB_TEST_BACKEND: 'distributed' },
                },
              },
            ] satisfies TestProjectInlineConfiguration[])
          : []),
      ],
    },
  };
});
