import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { type OwnServer, startOwnPostgres, until } from '../support/own-servers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * A database that cannot answer under a running app: requests that need it get 503
 * SERVICE_UNAVAILABLE with Retry-After in the error shape (never a 500), /healthz keeps answering,
 * and the app recovers by itself once the database is back. PostgreSQL: our own server, stopped
 * and started again. SQLite: another process holding the write lock, and a full disk.
 */
let hub: FakeHub;
beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({ id: 'outage/repo', files: [{ path: 'config.json', content: '{"outage":1}' }] });
});
afterAll(async () => {
  await hub?.close();
});

function expectUnavailable(response: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  expect(response.statusCode).toBe(503);
  expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  const { error } = JSON.parse(response.body);
  expect(error.code).toBe('SERVICE_UNAVAILABLE');
  expect(error.message).toMatch(/^The database is unavailable \(.+\); try again later$/);
  expect(error.request_id).toBe(response.headers['x-request-id']);
}

const register = (t: TestApp, name: string) =>
  t.app.http.inject({
    method: 'POST',
    url: '/v1/hub/register',
    // About the database, not upstream: these repos are not on the fake hub.
    payload: { vendor: 'Outage', name, source_repo_id: `outage/${name}`, verify: false },
  });

describe.runIf(BACKEND === 'distributed')('PostgreSQL stopped under a running app', () => {
  let pg: OwnServer;
  let t: TestApp;
  beforeAll(async () => {
    pg = await startOwnPostgres();
    t = await startTestApp(hub.url, { DATABASE_URL: pg.url });
  });
  afterAll(async () => {
    await t?.close();
    await pg?.destroy();
  });

  it('answers 503 with Retry-After while it is down, and recovers when it is back', async () => {
    const { model, job } = await registerAndSync(t, 'outage/repo');
    await pg.stop();

    expectUnavailable(await t.app.http.inject({ method: 'GET', url: '/v1/hub/models' }));
    expectUnavailable(await t.app.http.inject({ method: 'GET', url: `/v1/hub/models/${model.id}` }));
    expectUnavailable(await t.app.http.inject({ method: 'GET', url: `/v1/hub/jobs/${job.id}` }));
    expectUnavailable(
      await t.app.http.inject({ method: 'POST', url: '/v1/hub/sync', payload: { repo_id: 'outage/repo' } }),
    );
    expectUnavailable(await register(t, 'during'));
    expect((await t.request('GET', '/healthz')).status).toBe(200);
    const ready = await t.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).not.toBe('ok');

    await pg.start();
    await until(
      'the models list answers again',
      async () => (await t.request('GET', '/v1/hub/models')).status === 200,
    );
    expect((await register(t, 'after')).statusCode).toBe(201);
    const models = await t.request('GET', '/v1/hub/models');
    expect(models.body.items.map((m: any) => m.repo_id).sort()).toEqual(['outage/after', 'outage/repo']);
  });
});

/** Holds SQLite's write lock from another process until `release` (as a backup tool or a second app might). */
async function holdWriteLock(file: string): Promise<{ release(): Promise<void> }> {
  const script = `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return {
    async release() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

describe.runIf(BACKEND === 'embedded')('SQLite locked by another process', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(hub.url);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers writes 503 once the busy timeout runs out, serves reads, and recovers', async () => {
    await registerAndSync(t, 'outage/repo');
    const lock = await holdWriteLock(path.join(t.storePath, 'model-hub.sqlite'));
    try {
      expectUnavailable(await register(t, 'during'));
      // WAL: readers never wait for the writer, so the list still answers.
      const models = await t.request('GET', '/v1/hub/models');
      expect(models.status).toBe(200);
      expect(models.body.items).toHaveLength(1);
      expect((await t.request('GET', '/healthz')).status).toBe(200);
    } finally {
      await lock.release();
    }
    expect((await register(t, 'after')).statusCode).toBe(201);
  });
});

/** A small tmpfs of our own (root only); undefined where mounting is not allowed. */
function mountSmallDisk(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'model-hub-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmdirSync(dir);
    return undefined;
  }
}

const smallDisk = BACKEND === 'embedded' ? mountSmallDisk() : undefined;

describe.runIf(smallDisk !== undefined)('SQLite on a full disk', () => {
  const disk = smallDisk ?? '';
  const filler = path.join(disk, 'filler');
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(hub.url, { DATABASE_URL: `sqlite://${path.join(disk, 'hub.sqlite')}` });
  });
  afterAll(async () => {
    await t?.close();
    execFileSync('umount', [disk]);
    await fs.rmdir(disk);
  });

  it('answers writes 503 while the disk is full, and recovers when space is freed', async () => {
    await registerAndSync(t, 'outage/repo');
    const handle = await fs.open(filler, 'w');
    const block = Buffer.alloc(64 * 1024);
    try {
      for (;;) await handle.write(block);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await handle.close();
    }
    expectUnavailable(await register(t, 'during'));
    expect((await t.request('GET', '/v1/hub/models')).status).toBe(200);
    await fs.rm(filler);
    expect((await register(t, 'after')).statusCode).toBe(201);
  });
});
