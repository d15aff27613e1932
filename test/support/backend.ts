import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Which deployment the integration and end-to-end tests run against: the same test code runs once
 * per vitest project (see vitest.config.ts). `distributed` gives every app its own PostgreSQL
 * database and its own Redis key prefix, created here and dropped by `drop()`.
 */
export const BACKEND: 'embedded' | 'distributed' =
  process.env.MODEL_HUB_TEST_BACKEND === 'distributed' ? 'distributed' : 'embedded';

export const POSTGRES_ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Backend {
  /** Environment for `loadConfig` or a child process: empty in embedded mode. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function createBackend(mode: typeof BACKEND = BACKEND): Promise<Backend> {
  if (mode === 'embedded') return { env: {}, async drop() {} };
  const name = `model_hub_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const databaseUrl = new URL(POSTGRES_ADMIN_URL);
  databaseUrl.pathname = `/${name}`;
  const prefix = `mh-test-${randomBytes(6).toString('hex')}`;
  return {
    env: { DATABASE_URL: databaseUrl.href, REDIS_URL: REDIS_TEST_URL, QUEUE_PREFIX: prefix },
    async drop() {
      await adminQuery(`drop database if exists ${name} with (force)`);
      await deleteRedisKeys(`${prefix}:*`);
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_TEST_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
