import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from './fake-hub.js';

/** `/_control`: the fake hub's throttle and faults changed while it runs. */
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({
    id: 'org/control',
    files: [
      { path: 'config.json', content: '{"a":1}' },
      { path: 'model.safetensors', content: { size: 64 * 1024, seed: 'control' } },
    ],
  });
});

afterAll(async () => {
  await hub?.close();
});

const control = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${hub.url}/_control${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('fake hub control routes', () => {
  it('arms a fault for the next GETs of a file, shows it, and disarms it', async () => {
    const armed = await control('/faults', 'POST', { file_path: 'config.json', status: 503, times: 2 });
    expect([armed.status, await armed.json()]).toEqual([
      201,
      { file_path: 'config.json', status: 503, times: 2 },
    ]);
    expect(await (await control('')).json()).toMatchObject({
      repos: ['org/control'],
      throttle_bytes_per_second: null,
      faults: [{ file_path: 'config.json', status: 503, remaining: 2 }],
    });
    const file = `${hub.url}/org/control/resolve/main/config.json`;
    expect((await fetch(file)).status).toBe(503);
    expect((await control('/faults', 'DELETE')).status).toBe(200);
    expect((await fetch(file)).status).toBe(200);
    expect(((await (await control('')).json()) as { faults: unknown[] }).faults).toEqual([]);
  });

  it('throttles the CDN from the next response on, and lifts it', async () => {
    const put = await control('/throttle', 'PUT', { bytes_per_second: 32 * 1024 });
    expect([put.status, await put.json()]).toEqual([200, { throttle_bytes_per_second: 32 * 1024 }]);
    const started = Date.now();
    const body = await (await fetch(`${hub.url}/org/control/resolve/main/model.safetensors`)).arrayBuffer();
    expect(body.byteLength).toBe(64 * 1024);
    // 64 KiB at 32 KiB/s cannot arrive in much under two seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect((await control('/throttle', 'PUT', { bytes_per_second: null })).status).toBe(200);
    expect(((await (await control('')).json()) as any).throttle_bytes_per_second).toBeNull();
  });

  it('answers 400 with the reason for a bad body, and 404 for an unknown control route', async () => {
    for (const [path, method, body, reason] of [
      ['/faults', 'POST', { status: 503 }, /file_path/],
      ['/faults', 'POST', { file_path: 'x', times: -1 }, /"times" must be a whole number/],
      ['/faults', 'POST', { file_path: 'x', corrupt: 'yes' }, /"corrupt" must be true or false/],
      ['/throttle', 'PUT', { bytes_per_second: 0 }, /positive integer/],
      ['/throttle', 'PUT', 'nope', /positive integer/],
    ] as const) {
      const answer = await control(path, method, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(((await answer.json()) as { error: string }).error).toMatch(reason);
    }
    expect((await control('/nope')).status).toBe(404);
  });
});
