import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';

/**
 * metadata/ holds one folder per upstream repo (`models--owner--name`), so repos whose vendor and
 * name are the same (or would join to the same `<Vendor>_<Name>`) keep their own files; a store in
 * the old layout is moved at the next start.
 */
const WAN = { repo: 'wan-ai/wan2.1-t2v', config: '{"_class_name":"WanModel"}' };
const OTHER = { repo: 'someone/other-model', config: '{"model_type":"llama"}' };
const SPLIT_A = { repo: 'org/split-a', config: '{"split":"a"}' };
const SPLIT_B = { repo: 'org/split-b', config: '{"split":"b"}' };

let hub: FakeHub;
let backend: Backend;
let storePath: string;
let app: App | undefined;

beforeAll(async () => {
  hub = await startFakeHub();
  backend = await createBackend();
  storePath = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-metadata-layout-'));
  for (const { repo, config } of [WAN, OTHER, SPLIT_A, SPLIT_B]) {
    await hub.addRepo({ id: repo, files: [{ path: 'config.json', content: config }] });
  }
});
afterAll(async () => {
  await app?.close().catch(() => undefined);
  await backend?.drop();
  await fs.rm(storePath, { recursive: true, force: true });
  await hub?.close();
});

async function restart(): Promise<App> {
  await app?.close();
  const config = loadConfig({
    ...backend.env,
    MODEL_STORE_PATH: storePath,
    HF_ENDPOINT: hub.url,
    LOG_LEVEL: 'silent',
    UPSTREAM_RETRY_BASE_MS: '5',
  });
  app = await createApp(config, createLogger('silent'));
  return app;
}

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object): Promise<any> {
  if (!app) throw new Error('no app');
  const response = await app.http.inject({ method, url, ...(payload ? { payload } : {}) });
  return { status: response.statusCode, body: response.body ? response.json() : undefined };
}

async function registerAndSync(repo: string, vendor: string, name: string): Promise<string> {
  const registered = await call('POST', '/v1/hub/register', { vendor, name, source_repo_id: repo });
  expect(registered.status).toBe(201);
  const sync = await call('POST', '/v1/hub/sync', { repo_id: repo });
  const job = await waitFor(
    `the sync of ${repo}`,
    async () => {
      const found = (await call('GET', `/v1/hub/jobs/${sync.body.job_id}`)).body;
      return found.status === 'completed' || found.status === 'failed' ? found : undefined;
    },
    10_000,
  );
  expect(job.status).toBe('completed');
  return registered.body.id;
}

const metadataDir = () => path.join(storePath, 'metadata');
const readMetadata = (folder: string) => fs.readFile(path.join(metadataDir(), folder, 'config.json'), 'utf8');

describe('metadata folders', () => {
  let otherId: string;

  it('keep the files of repos registered under the same vendor and name apart', async () => {
    await restart();
    await registerAndSync(WAN.repo, 'Wan-AI', 'Wan2.1-T2V-1.3B');
    otherId = await registerAndSync(OTHER.repo, 'Wan-AI', 'Wan2.1-T2V-1.3B');
    // `a_b` + `c` and `a` + `b_c` joined to the same `<Vendor>_<Name>` folder.
    await registerAndSync(SPLIT_A.repo, 'a_b', 'c');
    await registerAndSync(SPLIT_B.repo, 'a', 'b_c');

    expect((await fs.readdir(metadataDir())).sort()).toEqual([
      'models--org--split-a',
      'models--org--split-b',
      'models--someone--other-model',
      'models--wan-ai--wan2.1-t2v',
    ]);
    expect(await readMetadata('models--wan-ai--wan2.1-t2v')).toBe(WAN.config);
    expect(await readMetadata('models--someone--other-model')).toBe(OTHER.config);
    expect(await readMetadata('models--org--split-a')).toBe(SPLIT_A.config);
    expect(await readMetadata('models--org--split-b')).toBe(SPLIT_B.config);
  });

  it('moves a store in the old <Vendor>_<Name> layout at the next start, placing each file from its blob', async () => {
    // The old layout, including the collision: the other repo's config.json overwrote Wan's.
    for (const folder of await fs.readdir(metadataDir())) {
      await fs.rm(path.join(metadataDir(), folder), { recursive: true });
    }
    for (const [folder, content] of [
      ['Wan-AI_Wan2.1-T2V-1.3B', OTHER.config],
      ['a_b_c', SPLIT_B.config],
    ] as const) {
      await fs.mkdir(path.join(metadataDir(), folder));
      await fs.writeFile(path.join(metadataDir(), folder, 'config.json'), content);
    }

    await restart();
    expect((await fs.readdir(metadataDir())).sort()).toEqual([
      'models--org--split-a',
      'models--org--split-b',
      'models--someone--other-model',
      'models--wan-ai--wan2.1-t2v',
    ]);
    expect(await readMetadata('models--wan-ai--wan2.1-t2v')).toBe(WAN.config);
    expect(await readMetadata('models--org--split-a')).toBe(SPLIT_A.config);
    // Placed from the blob: a hard link, not a copy of the old folder's bytes.
    const artifacts = (await call('GET', `/v1/hub/models/${otherId}/artifacts`)).body.items;
    const blob = artifacts.find((a: any) => a.path === 'config.json').local_path;
    const placed = await fs.stat(path.join(metadataDir(), 'models--someone--other-model', 'config.json'));
    expect(placed.ino).toBe((await fs.stat(blob)).ino);
  });

  it('goes with its model when the model is deleted; the others stay', async () => {
    expect((await call('DELETE', `/v1/hub/models/${otherId}`)).status).toBe(200);
    expect((await fs.readdir(metadataDir())).sort()).toEqual([
      'models--org--split-a',
      'models--org--split-b',
      'models--wan-ai--wan2.1-t2v',
    ]);
    expect(await readMetadata('models--wan-ai--wan2.1-t2v')).toBe(WAN.config);
  });
});
