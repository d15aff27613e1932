import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Two API processes on one Redis draw on one write budget per client, so the limit holds across them. */
const LIMIT = 4;
let hub: FakeHub;
let t: TestApp;
let second: App;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { RATE_LIMIT_WRITES_PER_MINUTE: String(LIMIT) });
  const config = loadConfig({
    ...t.backendEnv,
    MODEL_STORE_PATH: t.storePath,
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'silent',
    WORKER: 'off',
    RATE_LIMIT_WRITES_PER_MINUTE: String(LIMIT),
  });
  second = await createApp(config, createLogger('silent'));
});
afterAll(async () => {
  await second?.close();
  await t?.close();
  await hub?.close();
});

function deleteMissing(app: App, remoteAddress: string) {
  return app.http.inject({ method: 'DELETE', url: `/v1/hub/models/${randomUUID()}`, remoteAddress });
}

describe('write rate limit across API processes', () => {
  it('counts writes to either process against one budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) {
      statuses.push((await deleteMissing(i % 2 === 0 ? t.app : second, '127.0.0.5')).statusCode);
    }
    expect(statuses).toEqual(Array(LIMIT).fill(404));
    const refusedHere = await deleteMissing(t.app, '127.0.0.5');
    const refusedThere = await deleteMissing(second, '127.0.0.5');
    expect([refusedHere.statusCode, refusedThere.statusCode]).toEqual([429, 429]);
    expect(refusedThere.json().error.code).toBe('RATE_LIMITED');
    expect(Number(refusedThere.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another address still has its whole budget on both.
    expect((await deleteMissing(second, '127.0.0.6')).statusCode).toBe(404);
  });
});
