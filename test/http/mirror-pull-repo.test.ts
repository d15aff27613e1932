import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { hfError, type MirrorFixture, sha256, startMirrorFixture } from '../support/mirror-fixture.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Pull-through of repos the hub does not know (registered and synced on their first request, or
 * the hub's own error when upstream refuses), MIRROR_MODE=offline, and an upstream that is down.
 */
let f: MirrorFixture;

beforeAll(async () => {
  f = await startMirrorFixture();
}, 60_000);

afterAll(async () => {
  await f?.close();
});

const WEIGHTS = { path: 'model.safetensors', content: { size: 200_000, seed: 'pull-repo-weights' } };
const CONFIG = { path: 'config.json', content: '{"model_type":"fresh"}' };

async function registered(t: TestApp, repoId: string): Promise<any | undefined> {
  const models = await t.request('GET', '/v1/hub/models');
  return models.body.items.find((m: any) => m.repo_id === repoId);
}

async function jobsOfType(t: TestApp, type: string): Promise<any[]> {
  return (await t.request('GET', `/v1/hub/jobs?type=${type}&limit=100`)).body.items;
}

describe(`pull-through of repos (${BACKEND})`, () => {
  it('registers and syncs an unknown repo on its first model-info request (concurrent ones join)', async () => {
    const { commit } = await f.hub.addRepo({ id: 'org/fresh', files: [CONFIG, WEIGHTS] });
    const answers = await Promise.all(
      Array.from({ length: 3 }, () => fetch(`${f.base}/api/models/org/fresh?blobs=true`)),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const info = (await answer.json()) as any;
      expect(info.sha).toBe(commit);
      expect(info.siblings.map((s: any) => s.rfilename).sort()).toEqual(['config.json', 'model.safetensors']);
    }
    const model = await registered(f.t, 'org/fresh');
    expect(model).toMatchObject({ vendor: 'org', name: 'fresh', revision: 'main', commit_sha: commit });
    const syncs = (await jobsOfType(f.t, 'sync')).filter((j) => j.payload.repo_id === 'org/fresh');
    expect(syncs).toHaveLength(1);

    // Its weights were not downloaded by the sync: the first resolve pulls them through.
    const upstream = await f.hub.fileInfo('org/fresh', WEIGHTS.path);
    const file = await fetch(`${f.base}/org/fresh/resolve/main/${WEIGHTS.path}`);
    expect([file.status, sha256(Buffer.from(await file.arrayBuffer()))]).toEqual([200, upstream.sha256]);
  });

  it('asks upstream about an unknown repo once: registering it does not check it again', async () => {
    await f.hub.addRepo({ id: 'org/once', files: [CONFIG] });
    f.hub.resetRequests();
    expect((await fetch(`${f.base}/api/models/org/once`)).status).toBe(200);
    // The pull-through's own question, then the sync's: no third one from registering.
    const asked = f.hub.requests.filter((r) => r.path.startsWith('/api/models/org/once/revision/'));
    expect(asked.map((r) => `${r.path} ${r.status}`)).toEqual([
      '/api/models/org/once/revision/main 200',
      '/api/models/org/once/revision/main 200',
    ]);
  });

  it('tracks the branch a first /tree request names', async () => {
    await f.hub.addRepo({ id: 'org/branchy', files: [CONFIG] });
    const { commit } = await f.hub.pushCommit('org/branchy', [CONFIG, WEIGHTS], 'dev');
    const tree = await fetch(`${f.base}/api/models/org/branchy/tree/dev`);
    expect(tree.status).toBe(200);
    expect(((await tree.json()) as any[]).map((e) => e.path)).toEqual(['config.json', 'model.safetensors']);
    expect(await registered(f.t, 'org/branchy')).toMatchObject({ revision: 'dev', commit_sha: commit });
  });

  it('answers RepoNotFound for a repo upstream does not have, and GatedRepo for gated files; registers nothing it cannot sync', async () => {
    for (const url of [
      '/api/models/org/nowhere',
      '/api/models/org/nowhere/revision/main',
      '/org/nowhere/resolve/main/config.json',
    ]) {
      const error = await hfError(await fetch(`${f.base}${url}`));
      expect(error, url).toMatchObject({ status: 404, code: 'RepoNotFound' });
      expect(error.message).toMatch(/org\/nowhere is not on this hub, and upstream does not have it/);
    }
    expect(await registered(f.t, 'org/nowhere')).toBeUndefined();

    // Gated upstream: its metadata is public (as on the hub), its files need a token the hub lacks.
    // Content of its own: a blob the hub already holds would be reused without asking upstream.
    const weights = { path: WEIGHTS.path, content: { size: 1000, seed: 'pull-repo-gated' } };
    await f.hub.addRepo({ id: 'org/gated', gated: true, files: [CONFIG, weights] });
    const gated = await hfError(await fetch(`${f.base}/org/gated/resolve/main/${WEIGHTS.path}`));
    expect(gated).toMatchObject({ status: 403, code: 'GatedRepo' });
    expect(gated.message).toMatch(/org\/gated is restricted upstream/);
  });
});

describe(`MIRROR_MODE=offline (${BACKEND})`, () => {
  it('answers EntryNotFound for a file not downloaded and RepoNotFound for a repo not held, asking upstream nothing', async () => {
    await f.hub.addRepo({ id: 'org/offline', files: [CONFIG, WEIGHTS] });
    const t = await startTestApp(f.hub.url, { MIRROR_MODE: 'offline' });
    try {
      const base = await t.listen();
      await registerAndSync(t, 'org/offline', 'Org', 'Offline');
      f.hub.resetRequests();
      const error = await hfError(await fetch(`${base}/org/offline/resolve/main/${WEIGHTS.path}`));
      expect(error).toMatchObject({ status: 404, code: 'EntryNotFound' });
      expect(error.message).toMatch(/is not downloaded to this hub yet.*MIRROR_MODE=offline/);
      expect(await jobsOfType(t, 'download')).toEqual([]);

      const unknown = await hfError(await fetch(`${base}/api/models/org/fresh`));
      expect(unknown).toMatchObject({ status: 404, code: 'RepoNotFound' });
      expect(await registered(t, 'org/fresh')).toBeUndefined();
      expect(f.hub.requests).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe(`upstream down (${BACKEND})`, () => {
  let hub: FakeHub;
  let t: TestApp;

  afterAll(async () => {
    await t?.close();
    await hub?.close();
  });

  it('serves stored files, and answers 502 within the upstream timeout for what needs upstream', async () => {
    hub = await startFakeHub();
    const stored = { path: 'stored.safetensors', content: { size: 100_000, seed: 'down-stored' } };
    await hub.addRepo({ id: 'org/down', files: [CONFIG, stored, WEIGHTS] });
    await hub.addRepo({ id: 'org/unseen', files: [CONFIG] });
    t = await startTestApp(hub.url);
    const base = await t.listen();
    await registerAndSync(t, 'org/down', 'Org', 'Down');
    const upstream = await hub.fileInfo('org/down', stored.path);
    const first = await fetch(`${base}/org/down/resolve/main/${stored.path}`);
    expect(sha256(Buffer.from(await first.arrayBuffer()))).toBe(upstream.sha256);

    await hub.close();
    const again = await fetch(`${base}/org/down/resolve/main/${stored.path}`);
    expect([again.status, sha256(Buffer.from(await again.arrayBuffer()))]).toEqual([200, upstream.sha256]);

    const timeoutMs = 5000; // UPSTREAM_TIMEOUT_MS of test apps
    for (const url of [`/org/down/resolve/main/${WEIGHTS.path}`, '/api/models/org/unseen']) {
      const started = Date.now();
      const error = await hfError(await fetch(`${base}${url}`));
      expect(Date.now() - started, url).toBeLessThan(timeoutMs);
      expect(error, url).toMatchObject({ status: 502, code: null });
      expect(error.body, url).toEqual({ error: error.message });
      expect(error.message, url).toMatch(/upstream/i);
    }
    expect(await registered(t, 'org/unseen')).toBeUndefined();
  });
});
