import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeDatabase, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('applies the embedded defaults', () => {
    const config = loadConfig({}, '/srv/hub');
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      hfEndpoint: 'https://huggingface.co',
      hfToken: undefined,
      storePath: path.resolve('/srv/hub/data/model-store'),
      database: { dialect: 'sqlite', filename: path.resolve('/srv/hub/data/model-store/model-hub.sqlite') },
      metadataMaxBytes: 10 * 1024 * 1024,
    });
  });

  it('reads and converts every variable', () => {
    const config = loadConfig(
      {
        HOST: '0.0.0.0',
        PORT: '9000',
        HF_ENDPOINT: 'http://127.0.0.1:5000/',
        HF_TOKEN: 'hf_secret',
        MODEL_STORE_PATH: '/var/store',
        DATA_DIR: '/var/data',
        WORKER_CONCURRENCY: '4',
        METADATA_MAX_BYTES: '1024',
      },
      '/',
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9000,
      hfEndpoint: 'http://127.0.0.1:5000',
      hfToken: 'hf_secret',
      storePath: '/var/store',
      database: { filename: '/var/data/model-hub.sqlite' },
      workerConcurrency: 4,
      metadataMaxBytes: 1024,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY'],
    [{ HF_ENDPOINT: 'ftp://x' }, 'HF_ENDPOINT'],
    [{ METADATA_MAX_BYTES: '-1' }, 'METADATA_MAX_BYTES'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    [{ WORKER: 'maybe' }, 'WORKER'],
    [{ WORKER: 'off' }, 'REDIS_URL'],
    [{ QUEUE_PREFIX: 'a b' }, 'QUEUE_PREFIX'],
    [{ JOB_LEASE_MS: '10' }, 'JOB_LEASE_MS'],
    [{ WEBHOOK_ALLOW_PRIVATE: 'maybe' }, 'WEBHOOK_ALLOW_PRIVATE'],
    [{ WEBHOOK_TIMEOUT_MS: '10' }, 'WEBHOOK_TIMEOUT_MS'],
    [{ WEBHOOK_MAX_ATTEMPTS: '0' }, 'WEBHOOK_MAX_ATTEMPTS'],
    [{ WEBHOOK_RETRY_BASE_MS: '-1' }, 'WEBHOOK_RETRY_BASE_MS'],
  ])('refuses %j naming the variable', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(variable);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be a whole number from 0 to 65535 (got "eighty")'],
    [{ MIRROR_MODE: 'cache' }, 'MIRROR_MODE must be one of pull-through, offline (got "cache")'],
    [
      { HF_ENDPOINT: 'ftp://x' },
      'HF_ENDPOINT must be an http:// or https:// URL, such as https://huggingface.co (got "ftp://x")',
    ],
    [{ STORE_MAX_BYTES: '0' }, 'STORE_MAX_BYTES must be a whole number of at least 1 (got 0)'],
    [{ REDIS_URL: 'http://user:pw@x' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
  ])('says in words what %j must be (never repeating a URL that may hold a password)', (env, words) => {
    expect(() => loadConfig(env)).toThrow(`Invalid configuration: ${words}`);
    expect(() => loadConfig({ REDIS_URL: 'http://user:pw@x' })).not.toThrow('pw');
  });

  it('selects PostgreSQL and BullMQ from their URLs, and an API-only process with WORKER=off', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://hub:s3cret@db.internal:5432/hub',
      REDIS_URL: 'redis://:pw@redis.internal:6379/0',
      WORKER: 'off',
      QUEUE_PREFIX: 'team-a',
    });
    expect(config.database).toEqual({
      dialect: 'postgres',
      url: 'postgres://hub:s3cret@db.internal:5432/hub',
      poolSize: 10,
    });
    expect(config.queue).toEqual({
      kind: 'bullmq',
      redisUrl: 'redis://:pw@redis.internal:6379/0',
      prefix: 'team-a',
    });
    expect(config.runWorker).toBe(false);
    expect(describeDatabase(config.database)).toBe('postgres://hub@db.internal:5432/hub');
  });

  it('keeps everything embedded when neither URL is set', () => {
    const config = loadConfig({});
    expect(config.database.dialect).toBe('sqlite');
    expect(config.queue).toEqual({ kind: 'local' });
    expect(config.runWorker).toBe(true);
  });

  it('reads the webhook settings, private targets decided by HOST unless set', () => {
    expect(loadConfig({}).webhooks).toEqual({
      allowPrivate: 'auto',
      timeoutMs: 10_000,
      maxAttempts: 8,
      retryBaseMs: 1000,
    });
    expect(
      loadConfig({
        WEBHOOK_ALLOW_PRIVATE: 'false',
        WEBHOOK_TIMEOUT_MS: '2500',
        WEBHOOK_MAX_ATTEMPTS: '3',
        WEBHOOK_RETRY_BASE_MS: '50',
      }).webhooks,
    ).toEqual({ allowPrivate: false, timeoutMs: 2500, maxAttempts: 3, retryBaseMs: 50 });
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }).webhooks.allowPrivate).toBe(true);
  });

  it('never echoes the token in an error', () => {
    expect(() => loadConfig({ HF_TOKEN: 'hf_supersecret', PORT: 'x' })).not.toThrow('hf_supersecret');
  });

  it('reads SECRETS_KEY as 64 hex characters or base64 of 32 bytes', () => {
    const key = Buffer.alloc(32, 7);
    expect(loadConfig({}).secretsKey).toBeUndefined();
    expect(loadConfig({ SECRETS_KEY: key.toString('hex') }).secretsKey).toEqual(key);
    expect(loadConfig({ SECRETS_KEY: key.toString('base64') }).secretsKey).toEqual(key);
    expect(loadConfig({ SECRETS_KEY: key.toString('base64url') }).secretsKey).toEqual(key);
  });

  it.each([
    ['too short', 'ab'.repeat(31)],
    ['not hex or base64', `zz${'ab'.repeat(31)}`],
    ['16 bytes of base64', Buffer.alloc(16, 1).toString('base64')],
    ['48 bytes of base64', Buffer.alloc(48, 1).toString('base64')],
  ])('refuses a SECRETS_KEY that is %s, naming the variable and never the value', (_why, value) => {
    let error: unknown;
    try {
      loadConfig({ SECRETS_KEY: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('SECRETS_KEY must be 32 bytes');
    expect((error as Error).message).not.toContain(value);
  });

  it('reads RATE_LIMIT_WRITES_PER_MINUTE (default 300, 0 turns it off)', () => {
    expect(loadConfig({}).rateLimitWritesPerMinute).toBe(300);
    expect(loadConfig({ RATE_LIMIT_WRITES_PER_MINUTE: '0' }).rateLimitWritesPerMinute).toBe(0);
    expect(() => loadConfig({ RATE_LIMIT_WRITES_PER_MINUTE: '-1' })).toThrow('RATE_LIMIT_WRITES_PER_MINUTE');
  });

  it('reads MIRROR_MODE (default pull-through)', () => {
    expect(loadConfig({}).mirrorMode).toBe('pull-through');
    expect(loadConfig({ MIRROR_MODE: 'offline' }).mirrorMode).toBe('offline');
    expect(() => loadConfig({ MIRROR_MODE: 'online' })).toThrow('MIRROR_MODE');
  });
});
