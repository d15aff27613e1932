import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import {
  hfError,
  MANY,
  MANY_FILES,
  type MirrorFixture,
  startMirrorFixture,
  TINY,
  TINY_FILES,
} from '../support/mirror-fixture.js';

/**
 * Model info, `/tree` and `/paths-info` read raw, compared with what the fake upstream answers for
 * the same request (minus what the hub cannot know: per-file history, scans, counters).
 */
let f: MirrorFixture;

beforeAll(async () => {
  f = await startMirrorFixture();
});

afterAll(async () => {
  await f?.close();
});

async function both(path: string, init: RequestInit = {}) {
  const [mine, upstream] = await Promise.all([
    fetch(`${f.base}${path}`, init),
    fetch(`${f.hub.url}${path}`, init),
  ]);
  const [mineJson, upstreamJson]: any[] = [await mine.json(), await upstream.json()];
  return { mine, upstream, mineJson, upstreamJson };
}

function getWithHost(url: string, host: string): Promise<{ status: number; body: string; link?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(response.headers.link ? { link: String(response.headers.link) } : {}),
          }),
        );
      })
      .on('error', reject);
  });
}

function withoutHistory(entries: any[]) {
  return entries.map(({ lastCommit: _, securityFileStatus: __, ...rest }) => rest);
}

describe(`model info (${BACKEND})`, () => {
  it('has the fields clients read, siblings as upstream lists them (with blobs=true too)', async () => {
    const { mineJson: info, upstreamJson: upstream } = await both(`/api/models/${TINY}`);
    expect(info).toMatchObject({
      id: TINY,
      modelId: TINY,
      author: 'org',
      sha: f.commit.tiny,
      private: false,
      gated: false,
      disabled: false,
      tags: [],
    });
    expect(info._id).toMatch(/^[0-9a-f]{24}$/);
    expect(new Date(info.lastModified).toISOString()).toBe(info.lastModified);
    expect(info.siblings).toEqual(upstream.siblings);
    expect(info.siblings).toHaveLength(TINY_FILES.length);

    const blobs = await both(`/api/models/${TINY}/revision/main?blobs=true`);
    expect(blobs.mineJson.siblings).toEqual(blobs.upstreamJson.siblings);
    const weights = blobs.mineJson.siblings.find((s: any) => s.rfilename === 'model.safetensors');
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${weights.lfs.sha256}\nsize ${weights.size}\n`;
    expect(weights.lfs).toEqual({
      sha256: expect.any(String),
      size: weights.size,
      pointerSize: pointer.length,
    });
  });

  it('with expand, answers only the listed properties plus _id and id', async () => {
    const response = await fetch(
      `${f.base}/api/models/${TINY}/revision/HEAD?expand=sha&expand=private&expand=likes`,
    );
    const info: any = await response.json();
    expect(Object.keys(info).sort()).toEqual(['_id', 'id', 'likes', 'private', 'sha']);
    expect(info.sha).toBe(f.commit.tiny);
  });

  it('serves the tracked branch, HEAD, refs/heads/<branch> and the commit; any other revision is RevisionNotFound', async () => {
    const held = ` (this hub holds ${TINY} at main, commit ${f.commit.tiny}, and serves that one commit)`;
    for (const rev of ['main', 'HEAD', f.commit.tiny, 'refs%2Fheads%2Fmain', 'refs/heads/main']) {
      const response = await fetch(`${f.base}/api/models/${TINY}/revision/${rev}`);
      expect(response.status, rev).toBe(200);
      expect(((await response.json()) as any).sha).toBe(f.commit.tiny);
    }
    for (const [rev, shown] of [
      ['refs%2Fpr%2F1', 'refs/pr/1'],
      ['refs%252Fpr%252F2', 'refs%2Fpr%2F2'],
      ['dev', 'dev'],
      [f.commit.many, f.commit.many],
    ]) {
      expect(await hfError(await fetch(`${f.base}/api/models/${TINY}/revision/${rev}`)), rev).toEqual({
        status: 404,
        code: 'RevisionNotFound',
        message: `Invalid rev id: ${shown}${held}`,
        body: { error: `Invalid rev id: ${shown}${held}` },
      });
    }
  });

  it('answers an unknown, a legacy one-part, and a not yet synced repo with RepoNotFound', async () => {
    const later = await f.t.request('POST', '/v1/hub/register', {
      vendor: 'Org',
      name: 'Later',
      source_repo_id: 'org/later',
      // Not on the fake hub: registered without the upstream check, and never synced.
      verify: false,
    });
    expect(later.status).toBe(201);
    for (const [path, message] of [
      ['/api/models/org/absent', /org\/absent is not on this hub/],
      ['/api/models/gpt2', /gpt2 is not on this hub/],
      ['/api/models/gpt2/revision/main', /gpt2 is not on this hub/],
      ['/api/models/org/later', /registered on this hub but not synced yet/],
    ] as const) {
      const error = await hfError(await fetch(`${f.base}${path}`));
      expect(error, path).toMatchObject({
        status: 404,
        code: 'RepoNotFound',
        message: expect.stringMatching(message),
      });
      expect(error.body).toEqual({ error: error.message });
    }
  });
});

describe(`tree (${BACKEND})`, () => {
  it('lists like upstream: root, sub-paths (raw or %2F), recursive, booleans in any case', async () => {
    for (const path of [
      `/api/models/${TINY}/tree/main`,
      `/api/models/${TINY}/tree/main?recursive=True&expand=False`,
      `/api/models/${TINY}/tree/${f.commit.tiny}?recursive=1`,
      `/api/models/${TINY}/tree/main/nested`,
      `/api/models/${TINY}/tree/main/nested%2Fdeeper`,
      `/api/models/${TINY}/tree/main/nested/?recursive=true`,
    ]) {
      const { mine, mineJson, upstreamJson } = await both(path);
      expect(mine.status, path).toBe(200);
      expect(mineJson, path).toEqual(upstreamJson);
      expect(JSON.stringify(mineJson)).not.toContain('xetHash');
    }
    const root = (await both(`/api/models/${TINY}/tree/main`)).mineJson;
    expect(root.map((e: any) => e.type)).toEqual([...root.map((e: any) => e.type)].sort()); // directories first
  });

  it('adds lastCommit (the synced commit) with expand, 50 per page', async () => {
    const { mineJson, upstreamJson } = await both(`/api/models/${TINY}/tree/main?recursive=true&expand=true`);
    expect(withoutHistory(mineJson)).toEqual(withoutHistory(upstreamJson));
    for (const entry of mineJson) {
      expect(entry.lastCommit).toEqual({ id: f.commit.tiny, title: '', date: expect.any(String) });
    }
  });

  it('pages with an absolute Link to itself, built from the Host it was reached by', async () => {
    const port = new URL(f.base).port;
    let url: string | undefined = `${f.base}/api/models/${MANY}/tree/main?recursive=true`;
    const links: string[] = [];
    let entries = 0;
    while (url) {
      // By another name than the one connected to (fetch cannot set Host).
      const response = await getWithHost(url, `localhost:${port}`);
      expect(response.status).toBe(200);
      entries += JSON.parse(response.body).length;
      const link = response.link;
      url = link ? /^<(.+)>; rel="next"$/.exec(link)?.[1]?.replace('localhost', '127.0.0.1') : undefined;
      if (link) links.push(link);
    }
    expect(entries).toBe(MANY_FILES + 1);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(
      new RegExp(
        `^<http://localhost:${port}/api/models/org/many/tree/main\\?recursive=true&cursor=[\\w-]+>; rel="next"$`,
      ),
    );
  });

  it('refuses a cursor it did not issue, and answers a missing directory with EntryNotFound', async () => {
    const bad = await hfError(await fetch(`${f.base}/api/models/${MANY}/tree/main?cursor=bm9wZQ`));
    expect(bad).toMatchObject({ status: 400, code: null, body: { error: 'Invalid cursor' } });
    const missing = await fetch(`${f.base}/api/models/${TINY}/tree/main/nope`);
    expect(missing.headers.get('x-repo-commit')).toBe(f.commit.tiny);
    expect(await hfError(missing)).toMatchObject({
      status: 404,
      code: 'EntryNotFound',
      message: 'nope does not exist on "main"',
    });
    expect(await hfError(await fetch(`${f.base}/api/models/${TINY}/tree/main/config.json`))).toMatchObject({
      status: 404,
      code: 'EntryNotFound',
    });
  });
});

describe(`paths-info (${BACKEND})`, () => {
  const wanted = ['config.json', 'nested/deeper', 'model.safetensors', 'missing.bin', 'config.json'];

  it('takes a form body (huggingface_hub) and answers the entries that exist, like upstream', async () => {
    const form = new URLSearchParams([
      ...wanted.map((p): [string, string] => ['paths', p]),
      ['expand', 'false'],
    ]);
    const { mine, mineJson, upstreamJson } = await both(`/api/models/${TINY}/paths-info/main`, {
      method: 'POST',
      body: form,
    });
    expect(mine.status).toBe(200);
    expect(mineJson).toEqual(upstreamJson);
    expect(mineJson.map((e: any) => e.path)).toEqual(['config.json', 'nested/deeper', 'model.safetensors']);
  });

  it('takes a JSON body (@huggingface/hub), with expand adding lastCommit', async () => {
    const { mineJson, upstreamJson } = await both(`/api/models/${TINY}/paths-info/${f.commit.tiny}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ paths: wanted, expand: true }),
    });
    expect(withoutHistory(mineJson)).toEqual(withoutHistory(upstreamJson));
    expect(mineJson.every((e: any) => e.lastCommit.id === f.commit.tiny)).toBe(true);
    // Many paths at once: looked up in the whole tree, same answer.
    const many = Array.from(
      { length: 30 },
      (_, i) => `shards/part-${String(i * 7).padStart(4, '0')}.safetensors`,
    );
    const bulk = await both(`/api/models/${MANY}/paths-info/main`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ paths: [...many, 'shards'] }),
    });
    expect(bulk.mineJson).toEqual(bulk.upstreamJson);
    expect(bulk.mineJson).toHaveLength(31);
  });

  it('refuses a body without paths, and an unknown revision, the hub’s way', async () => {
    for (const body of ['{"paths": 3}', '{}', '[]']) {
      const response = await fetch(`${f.base}/api/models/${TINY}/paths-info/main`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(await hfError(response), body).toMatchObject({
        status: 400,
        body: { error: expect.stringMatching(/paths/) },
      });
    }
    const unknown = await fetch(`${f.base}/api/models/${TINY}/paths-info/dev`, {
      method: 'POST',
      body: new URLSearchParams({ paths: 'config.json' }),
    });
    expect(await hfError(unknown)).toMatchObject({ status: 404, code: 'RevisionNotFound' });
  });
});
