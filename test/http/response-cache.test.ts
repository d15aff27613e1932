import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Db, openDatabase } from '../../src/db/connection.js';
import { installResponseCache } from '../../src/http/response-cache.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND, POSTGRES_ADMIN_URL } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/** The cache on its own: a bare server, a generation the test moves, and a handler that counts. */
describe('the response cache', () => {
  let app: FastifyInstance;
  let generation: number | undefined;
  let computed: number;

  beforeEach(async () => {
    generation = 1;
    computed = 0;
    app = Fastify();
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer ok') return reply.code(401).send({ error: 'no key' });
    });
    installResponseCache(app, { current: () => generation });
    app.get('/list', { config: { cached: true } }, async (request) => {
      computed++;
      if ((request.query as { during?: string }).during === 'write') generation = (generation ?? 0) + 1;
      return { computed, query: request.query };
    });
    app.get('/missing', { config: { cached: true } }, async (_request, reply) => {
      computed++;
      return reply.code(404).send({ computed });
    });
    app.get('/plain', async () => ({ computed: ++computed }));
  });

  const get = (url: string, key = 'ok') =>
    app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('sends the same bytes again while the generation stays, and computes anew once it moves', async () => {
    const first = await get('/list');
    const again = await get('/list');
    expect(again.body).toBe(first.body);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(computed).toBe(1);
    generation = 2;
    expect((await get('/list')).json().computed).toBe(2);
    expect((await get('/list')).json().computed).toBe(2);
  });

  it('keeps one answer per URL', async () => {
    expect((await get('/list?a=1')).json().query).toEqual({ a: '1' });
    expect((await get('/list?a=2')).json().query).toEqual({ a: '2' });
    expect((await get('/list?a=1')).json()).toEqual({ computed: 1, query: { a: '1' } });
    expect(computed).toBe(2);
  });

  it('keeps nothing while the generation is unknown, nor errors, nor routes that do not ask', async () => {
    generation = undefined;
    await get('/list');
    await get('/list');
    generation = 1;
    await get('/missing');
    await get('/missing');
    await get('/plain');
    await get('/plain');
    expect(computed).toBe(6);
  });

  it('keeps the 128 answers asked for last', async () => {
    for (let i = 0; i <= 128; i++) await get(`/list?page=${i}`);
    await get('/list?page=128');
    await get('/list?page=1');
    expect(computed).toBe(129);
    await get('/list?page=0');
    expect(computed).toBe(130);
  });

  it('never files an answer under a generation that moved while it was computed', async () => {
    await get('/list?during=write');
    expect((await get('/list?during=write')).json().computed).toBe(2);
  });

  it('sends a kept answer only to callers the route lets in', async () => {
    await get('/list');
    const refused = await get('/list', '');
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual({ error: 'no key' });
  });
});

/**
 * Through the real app on this run's backend: the lists the cache keeps (jobs, models, a model's
 * artifacts) always show the database as it is, whoever wrote it.
 */
describe(`cached lists on ${BACKEND === 'distributed' ? 'PostgreSQL' : 'SQLite'}`, () => {
  let hub: FakeHub;
  let t: TestApp;
  let other: Db;
  let modelId: string;

  beforeAll(async () => {
    hub = await startFakeHub();
    await hub.addRepo({ id: 'cache/one', files: [{ path: 'config.json', content: '{"a":1}' }] });
    t = await startTestApp(hub.url);
    modelId = (await registerAndSync(t, 'cache/one')).model.id;
    // Another process's connection, as a CLI command or another worker has.
    other = openDatabase(loadConfig({ ...t.backendEnv, MODEL_STORE_PATH: t.storePath }).database);
  });
  afterAll(async () => {
    await other?.destroy();
    await t?.close();
    await hub?.close();
  });

  const names = async () =>
    ((await t.request('GET', '/v1/hub/models')).body.items as { name: string }[]).map((m) => m.name);

  it("shows this process's own writes in the very next answer", async () => {
    const before = (await t.request('GET', '/v1/hub/jobs')).body.items as { id: string }[];
    expect((await t.request('GET', '/v1/hub/jobs')).body.items).toEqual(before);
    const sync = await t.request('POST', '/v1/hub/sync', { repo_id: 'cache/one' });
    expect(sync.status).toBe(202);
    const after = (await t.request('GET', '/v1/hub/jobs')).body.items as { id: string }[];
    expect(after.map((j) => j.id)).toEqual([sync.body.job_id, ...before.map((j) => j.id)]);
    await t.waitForJob(sync.body.job_id);
  });

  it("shows another connection's writes", async () => {
    expect(await names()).toEqual(['one']);
    await other.updateTable('modelRepos').set({ name: 'renamed' }).where('id', '=', modelId).execute();
    if (BACKEND === 'embedded') {
      // SQLite: the file's data_version is read with every answer.
      expect(await names()).toEqual(['renamed']);
    } else {
      // PostgreSQL: as soon as the notification arrives.
      await waitFor(
        'the renamed model',
        async () => ((await names())[0] === 'renamed' ? true : undefined),
        5_000,
      );
    }
    await other.updateTable('artifacts').set({ size: 12_345 }).where('modelId', '=', modelId).execute();
    await waitFor(
      'the changed artifact',
      async () => {
        const items = (await t.request('GET', `/v1/hub/models/${modelId}/artifacts`)).body.items;
        return items[0]?.size === 12_345 ? true : undefined;
      },
      5_000,
    );
  });

  it.runIf(BACKEND === 'distributed')(
    'answers from the database while its change notifications are lost, until they are back',
    async () => {
      expect(await names()).toEqual(['renamed']);
      const database = new URL(t.backendEnv.DATABASE_URL ?? '').pathname.slice(1);
      const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await admin.connect();
      try {
        const listener = `select pid from pg_stat_activity where datname = $1 and query ilike 'listen %'`;
        const { rows } = await admin.query<{ pid: number }>(listener, [database]);
        expect(rows).toHaveLength(1);
        await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
        // The app sees its listener gone at once; it listens again a second later.
        await sleep(200);
        await other.updateTable('modelRepos').set({ name: 'unseen' }).where('id', '=', modelId).execute();
        // Nobody listened for this change: only an answer read from the database shows it.
        expect(await names()).toEqual(['unseen']);
        await waitFor(
          'the listener back',
          async () => ((await admin.query(listener, [database])).rows.length === 1 ? true : undefined),
          10_000,
        );
        await other.updateTable('modelRepos').set({ name: 'seen' }).where('id', '=', modelId).execute();
        await waitFor(
          'the model renamed again',
          async () => ((await names())[0] === 'seen' ? true : undefined),
          5_000,
        );
      } finally {
        await admin.end();
      }
    },
  );
});
