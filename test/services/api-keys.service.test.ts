import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeysRepository } from '../../src/db/api-keys.repo.js';
import { type Db, openDatabase } from '../../src/db/connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { ApiKeysService, SCOPES, scopeAllows } from '../../src/services/api-keys.service.js';

const opened: { db: Db; dir: string }[] = [];

async function database(): Promise<Db> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-keys-'));
  const db = openDatabase({ dialect: 'sqlite', filename: path.join(dir, 'hub.sqlite') });
  await migrateToLatest(db);
  opened.push({ db, dir });
  return db;
}

afterEach(async () => {
  for (const { db, dir } of opened.splice(0)) {
    await db.destroy().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

describe('scopeAllows', () => {
  it('nests read < write < admin', () => {
    const allowed = SCOPES.flatMap((held) =>
      SCOPES.filter((needed) => scopeAllows(held, needed)).map((n) => `${held}>${n}`),
    );
    expect(allowed).toEqual([
      'read>read',
      'write>read',
      'write>write',
      'admin>read',
      'admin>write',
      'admin>admin',
    ]);
  });
});

describe('ApiKeysService', () => {
  it('authenticates the exact key only', async () => {
    const service = new ApiKeysService(new ApiKeysRepository(await database()));
    const created = await service.create({ scope: 'write', name: 'ci' });
    expect((await service.authenticate(created.key))?.id).toBe(created.id);
    // Same prefix, one character changed at the end: not the key.
    const last = created.key.at(-1) === 'A' ? 'B' : 'A';
    expect(await service.authenticate(`${created.key.slice(0, -1)}${last}`)).toBeNull();
    expect(await service.authenticate(created.key.slice(0, -1))).toBeNull();
    expect(await service.authenticate(`${created.key} `)).toBeNull();
  });

  it('sees keys made by another process within its cache time, and revocations at once', async () => {
    let now = 1_000_000;
    const db = await database();
    const here = new ApiKeysService(new ApiKeysRepository(db), () => now);
    const elsewhere = new ApiKeysService(new ApiKeysRepository(db));
    expect(await here.anyKeys()).toBe(false);
    const created = await elsewhere.create({ scope: 'read' });
    expect(await here.anyKeys()).toBe(false);
    now += 2_001;
    expect(await here.anyKeys()).toBe(true);
    expect(await here.authenticate(created.key)).not.toBeNull();
    await here.revoke(created.prefix);
    expect(await here.authenticate(created.key)).toBeNull();
    await expect(here.revoke(created.id)).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await expect(here.revoke('nope')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('keeps a recently verified answer through a database outage, for a while', async () => {
    let now = 5_000_000;
    const db = await database();
    const service = new ApiKeysService(new ApiKeysRepository(db), () => now);
    const created = await service.create({ scope: 'admin' });
    expect(await service.anyKeys()).toBe(true);
    expect((await service.authenticate(created.key))?.scope).toBe('admin');
    await db.destroy();
    now += 60_000;
    expect((await service.authenticate(created.key))?.scope).toBe('admin');
    expect(await service.anyKeys()).toBe(true);
    await expect(service.authenticate(`mh_${'q'.repeat(43)}`)).rejects.toThrow();
    now += 10 * 60_000;
    await expect(service.authenticate(created.key)).rejects.toThrow();
  });
});
