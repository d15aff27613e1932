import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { killAll, spawnHub } from '../support/child-server.js';
import { MiB } from '../support/download-helpers.js';
import { pull } from '../support/mirror-fixture.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Pull-through across processes: the API (WORKER=off) streams a file that a worker process is
 * downloading into the shared store, following the durable offsets it publishes through Redis.
 */
const REPO = 'split/big';
const WEIGHTS = 'model.safetensors';
const SIZE = 24 * MiB;

let hub: FakeHub;
let t: TestApp;
const children: ChildProcess[] = [];

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 8 * MiB });
  await hub.addRepo({ id: REPO, files: [{ path: WEIGHTS, content: { size: SIZE, seed: 'split-big' } }] });
  t = await startTestApp(hub.url, { WORKER: 'off' });
  children.push(
    spawnHub('worker', {
      ...t.backendEnv,
      MODEL_STORE_PATH: t.storePath,
      HF_ENDPOINT: hub.url,
      LOG_LEVEL: 'warn',
      UPSTREAM_RETRY_BASE_MS: '5',
    }),
  );
  await registerAndSync(t, REPO, 'Split', 'Big');
}, 60_000);

afterAll(async () => {
  killAll(children);
  await t?.close();
  await hub?.close();
});

describe('pull-through with the download in a worker process', () => {
  it('streams the worker’s partial file to 3 clients of the API process while it downloads', async () => {
    const base = await t.listen();
    const upstream = await hub.fileInfo(REPO, WEIGHTS);
    const clients = await Promise.all(
      Array.from({ length: 3 }, () => pull(`${base}/${REPO}/resolve/main/${WEIGHTS}`)),
    );
    const completed = await t.app.db
      .selectFrom('events')
      .select('at')
      .where('type', '=', 'artifact.completed')
      .executeTakeFirstOrThrow();
    for (const client of clients) {
      expect([client.status, client.error, client.bytes, client.sha256]).toEqual([
        200,
        undefined,
        SIZE,
        upstream.sha256,
      ]);
      expect(client.firstChunkAt).toBeLessThan(Date.parse(completed.at));
    }
    const gets = hub.requests.filter((r) => r.server === 'cdn' && r.path.includes(upstream.sha256));
    expect(gets).toHaveLength(1);
  });
});
