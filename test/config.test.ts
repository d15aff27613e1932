import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

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
    [{ DATABASE_URL: 'postgres://localhost/hub' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'redis://localhost:6379' }, 'REDIS_URL'],
  ])('refuses %j naming the variable', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(variable);
  });

  it('never echoes the token in an error', () => {
    expect(() => loadConfig({ HF_TOKEN: 'hf_supersecret', PORT: 'x' })).not.toThrow('hf_supersecret');
  });
});
