import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { BACKEND } from '../support/backend.js';
import { hfError } from '../support/mirror-fixture.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Which commit the mirror serves: a tracked branch re-resolved upstream once per
 * MIRROR_REVISION_TTL (1 s here), the last synced commit while upstream is down, and a repo first
 * asked for by a commit id that is not the head held at that commit.
 */
let hub: FakeHub;
let t: TestApp;
let base: string;

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, { MIRROR_REVISION_TTL: '1' });
  base = await t.listen();
}, 60_000);

afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const config = (n: number) => ({ path: 'config.json', content: `{"version":${n}}` });

async function info(repoPath: string): Promise<{ status: number; sha?: string }> {
  const answer = await fetch(`${base}/api/models/${repoPath}`);
  const body = (await answer.json()) as { sha?: string };
  return { status: answer.status, ...(body.sha ? { sha: body.sha } : {}) };
}

const modelInfoCalls = (repoId: string) =>
  hub.requests.filter((r) => r.server === 'hub' && r.path.startsWith(`/api/models/${repoId}`)).length;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`mirror revisions (${BACKEND})`, () => {
  it('serves a moved branch after the TTL, and asks upstream nothing within it', async () => {
    const { commit: first } = await hub.addRepo({ id: 'org/moving', files: [config(1)] });
    expect(await info('org/moving')).toEqual({ status: 200, sha: first });
    const { commit: second } = await hub.pushCommit('org/moving', [config(2)]);

    hub.resetRequests();
    expect(await info('org/moving')).toEqual({ status: 200, sha: first });
    expect(modelInfoCalls('org/moving')).toBe(0);

    await pause(1100);
    expect(await info('org/moving')).toEqual({ status: 200, sha: second });
    const file = await fetch(`${base}/org/moving/resolve/main/config.json`);
    expect([file.status, file.headers.get('x-repo-commit'), await file.text()]).toEqual([
      200,
      second,
      '{"version":2}',
    ]);
  });

  it('holds a repo first asked for by an older commit at that commit', async () => {
    const { commit: pinned } = await hub.addRepo({ id: 'org/pinned', files: [config(1)] });
    const { commit: head } = await hub.pushCommit('org/pinned', [config(2)]);

    expect(await info(`org/pinned/revision/${pinned}`)).toEqual({ status: 200, sha: pinned });
    const file = await fetch(`${base}/org/pinned/resolve/${pinned}/config.json`);
    expect([file.status, await file.text()]).toEqual([200, '{"version":1}']);
    const model = (await t.request('GET', '/v1/hub/models')).body.items.find(
      (m: { repo_id: string }) => m.repo_id === 'org/pinned',
    );
    expect(model).toMatchObject({ revision: pinned, commit_sha: pinned });

    // One commit per repo: another revision is not found, and the message says what is held.
    const other = await hfError(await fetch(`${base}/api/models/org/pinned/revision/${head}`));
    expect(other).toMatchObject({ status: 404, code: 'RevisionNotFound' });
    expect(other.message).toContain(`this hub holds org/pinned at ${pinned}, commit ${pinned}`);

    // A pinned repo never moves: no upstream check however old its sync.
    await pause(1100);
    hub.resetRequests();
    expect(await info(`org/pinned/revision/${pinned}`)).toEqual({ status: 200, sha: pinned });
    expect(modelInfoCalls('org/pinned')).toBe(0);
  });

  it('tracks main when the commit a first request names is the head', async () => {
    const { commit } = await hub.addRepo({ id: 'org/at-head', files: [config(1)] });
    expect(await info(`org/at-head/revision/${commit}`)).toEqual({ status: 200, sha: commit });
    const model = (await t.request('GET', '/v1/hub/models')).body.items.find(
      (m: { repo_id: string }) => m.repo_id === 'org/at-head',
    );
    expect(model).toMatchObject({ revision: 'main', commit_sha: commit });
  });
});

describe(`mirror revisions with upstream down (${BACKEND})`, () => {
  let down: FakeHub;
  let app: TestApp;

  afterAll(async () => {
    await app?.close();
    await down?.close();
  });

  it('serves the last synced commit after the TTL when upstream cannot be asked', async () => {
    down = await startFakeHub();
    const { commit } = await down.addRepo({ id: 'org/steady', files: [config(7)] });
    app = await startTestApp(down.url, { MIRROR_REVISION_TTL: '1' });
    const url = await app.listen();
    const file = `${url}/org/steady/resolve/main/config.json`;
    expect(await (await fetch(file)).text()).toBe('{"version":7}');

    await down.close();
    await pause(1100);
    const started = Date.now();
    const answer = await fetch(`${url}/api/models/org/steady`);
    expect([answer.status, ((await answer.json()) as { sha: string }).sha]).toEqual([200, commit]);
    // The check gives up within its own timeout (5 s), well before the upstream client's retries end.
    expect(Date.now() - started).toBeLessThan(6_000);
    const again = await fetch(file);
    expect([again.status, await again.text()]).toEqual([200, '{"version":7}']);
  });
});
