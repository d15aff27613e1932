import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from './fake-hub.js';

const MiB = 1024 * 1024;
const REPO = 'acme/tiny-model';

interface TreeEntry {
  type: 'file' | 'directory';
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
  lastCommit?: { id: string; title: string; date: string };
}

let hub: FakeHub;
let commit: string;

beforeAll(async () => {
  hub = await startFakeHub({ pageSize: 3 });
  ({ commit } = await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"a":1}\n' },
      { path: 'model.safetensors', content: { size: 2 * MiB + 3, seed: 'tiny' } },
      { path: 'sub/dir/notes.txt', content: 'notes\n' },
      { path: 'sub/weights.bin', content: 'tiny but LFS by extension' },
    ],
  }));
  await hub.addRepo({ id: 'acme/private', private: true, files: [{ path: 'a.txt', content: 'a' }] });
  await hub.addRepo({ id: 'acme/gated', gated: true, files: [{ path: 'a.txt', content: 'a' }] });
});

afterAll(async () => {
  await hub.close();
});

const auth = () => ({ authorization: `Bearer ${hub.token}` });

async function getJson<T>(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ res: Response; body: T }> {
  const res = await fetch(`${hub.url}${path}`, { headers });
  return { res, body: (await res.json()) as T };
}

async function listAll(firstUrl: string): Promise<{ entries: TreeEntry[]; pages: number; links: string[] }> {
  const entries: TreeEntry[] = [];
  const links: string[] = [];
  let next: string | undefined = firstUrl;
  let pages = 0;
  while (next) {
    const res = await fetch(next);
    expect(res.status).toBe(200);
    entries.push(...((await res.json()) as TreeEntry[]));
    pages += 1;
    const link = res.headers.get('link');
    if (link) links.push(link);
    next = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
  }
  return { entries, pages, links };
}

describe('model info', () => {
  it('returns the commit sha and HF fields, by default branch, HEAD, branch and commit', async () => {
    const info = await hub.fileInfo(REPO, 'model.safetensors');
    for (const path of [
      `/api/models/${REPO}`,
      `/api/models/${REPO}/revision/HEAD`,
      `/api/models/${REPO}/revision/main`,
    ]) {
      const { res, body } = await getJson<Record<string, unknown>>(path);
      expect(res.status).toBe(200);
      expect(body.sha).toBe(commit);
      expect(body).toMatchObject({ id: REPO, modelId: REPO, author: 'acme', private: false, gated: false });
      expect(body.disabled).toBe(false);
      expect(body._id).toMatch(/^[0-9a-f]{24}$/);
      expect(body.siblings).toContainEqual({ rfilename: 'sub/dir/notes.txt' });
    }
    const { body } = await getJson<{ sha: string; siblings: Record<string, unknown>[] }>(
      `/api/models/${REPO}/revision/${commit}?blobs=True`,
    );
    expect(body.sha).toBe(commit);
    const model = body.siblings.find((s) => s.rfilename === 'model.safetensors');
    expect(model).toMatchObject({
      size: 2 * MiB + 3,
      lfs: { sha256: info.sha256, size: 2 * MiB + 3, pointerSize: 132 },
    });
    expect(model?.blobId).not.toBe(info.gitSha1);
    const config = body.siblings.find((s) => s.rfilename === 'config.json');
    expect(config).toEqual({
      rfilename: 'config.json',
      blobId: (await hub.fileInfo(REPO, 'config.json')).gitSha1,
      size: 8,
    });
  });

  it('keeps only the expanded properties', async () => {
    const { body } = await getJson<Record<string, unknown>>(
      `/api/models/${REPO}/revision/main?expand=sha&expand=private`,
    );
    expect(Object.keys(body).sort()).toEqual(['_id', 'id', 'private', 'sha']);
  });

  it('moves the branch on pushCommit and keeps old commits resolvable', async () => {
    const first = await hub.addRepo({ id: 'acme/evolving', files: [{ path: 'v.txt', content: 'v1' }] });
    const second = await hub.pushCommit('acme/evolving', [{ path: 'v.txt', content: 'v2' }]);
    expect(second.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(second.commit).not.toBe(first.commit);
    expect((await getJson<{ sha: string }>('/api/models/acme/evolving')).body.sha).toBe(second.commit);
    const old = await fetch(`${hub.url}/acme/evolving/resolve/${first.commit}/v.txt`);
    expect(await old.text()).toBe('v1');
    expect(old.headers.get('x-repo-commit')).toBe(first.commit);
    expect(await (await fetch(`${hub.url}/acme/evolving/resolve/main/v.txt`)).text()).toBe('v2');
    expect((await hub.expectedBytes('acme/evolving', 'v.txt', first.commit)).toString()).toBe('v1');
  });
});

describe('tree', () => {
  it('paginates with an absolute Link and lists files and directories', async () => {
    const { entries, pages, links } = await listAll(
      `${hub.url}/api/models/${REPO}/tree/${commit}?recursive=true`,
    );
    expect(pages).toBe(2);
    expect(links[0]).toMatch(
      new RegExp(
        `^<${hub.url}/api/models/${REPO}/tree/${commit}\\?recursive=true&cursor=[^>]+>; rel="next"$`,
      ),
    );
    expect(entries.map((e) => `${e.type}:${e.path}`).sort()).toEqual([
      'directory:sub',
      'directory:sub/dir',
      'file:config.json',
      'file:model.safetensors',
      'file:sub/dir/notes.txt',
      'file:sub/weights.bin',
    ]);
    const model = await hub.fileInfo(REPO, 'model.safetensors');
    const modelEntry = entries.find((e) => e.path === 'model.safetensors');
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${model.sha256}\nsize ${model.size}\n`;
    expect(modelEntry?.lfs).toEqual({ oid: model.sha256, size: model.size, pointerSize: pointer.length });
    expect(modelEntry?.size).toBe(model.size);
    const notes = entries.find((e) => e.path === 'sub/dir/notes.txt');
    expect(notes).toEqual({
      type: 'file',
      oid: (await hub.fileInfo(REPO, 'sub/dir/notes.txt')).gitSha1,
      size: 6,
      path: 'sub/dir/notes.txt',
    });
    expect(entries.find((e) => e.path === 'sub')).toMatchObject({
      size: 0,
      oid: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
  });

  it('lists direct children only when not recursive, and sub-paths with raw or %2F slashes', async () => {
    const root = await listAll(`${hub.url}/api/models/${REPO}/tree/main?recursive=false`);
    expect(root.entries.map((e) => e.path)).toEqual(['sub', 'config.json', 'model.safetensors']);
    for (const sub of ['sub/dir', 'sub%2Fdir']) {
      const { body } = await getJson<TreeEntry[]>(
        `/api/models/${REPO}/tree/main/${sub}?recursive=1&expand=false`,
      );
      expect(body.map((e) => e.path)).toEqual(['sub/dir/notes.txt']);
    }
    const expanded = await getJson<TreeEntry[]>(`/api/models/${REPO}/tree/main/sub?expand=true`);
    expect(expanded.body[0]?.lastCommit?.id).toBe(commit);
  });

  it('answers 404 RevisionNotFound and EntryNotFound', async () => {
    const rev = await fetch(`${hub.url}/api/models/${REPO}/tree/nope?recursive=true`);
    expect(rev.status).toBe(404);
    expect(rev.headers.get('x-error-code')).toBe('RevisionNotFound');
    expect(await rev.json()).toEqual({ error: 'Invalid rev id: nope' });
    const entry = await fetch(`${hub.url}/api/models/${REPO}/tree/main/missing`);
    expect(entry.status).toBe(404);
    expect(entry.headers.get('x-error-code')).toBe('EntryNotFound');
  });
});

describe('paths-info', () => {
  it('accepts JSON and form bodies and skips missing paths', async () => {
    const url = `${hub.url}/api/models/${REPO}/paths-info/${commit}`;
    const json = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ paths: ['model.safetensors', 'missing.txt', 'sub'], expand: true }),
    });
    const jsonBody = (await json.json()) as TreeEntry[];
    expect(jsonBody.map((e) => `${e.type}:${e.path}`)).toEqual(['file:model.safetensors', 'directory:sub']);
    expect(jsonBody[0]?.lastCommit?.id).toBe(commit);
    const form = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams('paths=config.json&paths=sub%2Fweights.bin&expand=False'),
    });
    const formBody = (await form.json()) as TreeEntry[];
    expect(formBody.map((e) => e.path)).toEqual(['config.json', 'sub/weights.bin']);
    expect(formBody[1]?.lfs?.oid).toBe((await hub.fileInfo(REPO, 'sub/weights.bin')).sha256);
    expect(formBody[0]?.lastCommit).toBeUndefined();
  });
});

describe('errors and auth', () => {
  async function expectError(
    path: string,
    headers: Record<string, string>,
    status: number,
    code: string | null,
    msg: string,
  ) {
    const res = await fetch(`${hub.url}${path}`, { headers });
    expect(res.status).toBe(status);
    expect(res.headers.get('x-error-code')).toBe(code);
    expect(res.headers.get('x-error-message')).toBe(msg);
    expect(await res.json()).toEqual({ error: msg });
  }

  it('hides unknown and private repos: 401 anonymous, 404 with a token', async () => {
    await expectError('/api/models/acme/nope', {}, 401, 'RepoNotFound', 'Repository not found');
    await expectError('/api/models/acme/nope', auth(), 404, 'RepoNotFound', 'Repository not found');
    await expectError('/acme/private/resolve/main/a.txt', {}, 401, 'RepoNotFound', 'Repository not found');
    const res = await fetch(`${hub.url}/acme/private/resolve/main/a.txt`, { headers: auth() });
    expect(await res.text()).toBe('a');
  });

  it('refuses a wrong token everywhere, without an error code', async () => {
    await expectError(
      `/api/models/${REPO}`,
      { authorization: 'Bearer hf_wrong' },
      401,
      null,
      'Invalid credentials in Authorization header',
    );
    await expectError(
      `/${REPO}/resolve/main/config.json`,
      { authorization: 'Bearer hf_wrong' },
      401,
      null,
      'Invalid credentials in Authorization header',
    );
  });

  it('gates content, not metadata, of gated repos', async () => {
    const info = await getJson<{ gated: unknown }>('/api/models/acme/gated');
    expect(info.body.gated).toBe('manual');
    const msg =
      'Access to model acme/gated is restricted. You must have access to it and be authenticated to access it. Please log in.';
    await expectError('/acme/gated/resolve/main/a.txt', {}, 401, 'GatedRepo', msg);
    await expectError('/api/models/acme/gated/auth-check', {}, 401, 'GatedRepo', msg);
    const ok = await fetch(`${hub.url}/acme/gated/resolve/main/a.txt`, { headers: auth() });
    expect(ok.status).toBe(200);
  });

  it('answers 404 RevisionNotFound and EntryNotFound on model info and resolve', async () => {
    await expectError(
      `/api/models/${REPO}/revision/refs%2Fpr%2F9`,
      {},
      404,
      'RevisionNotFound',
      'Invalid rev id: refs/pr/9',
    );
    await expectError(`/${REPO}/resolve/v9/config.json`, {}, 404, 'RevisionNotFound', 'Invalid rev id: v9');
    const res = await fetch(`${hub.url}/${REPO}/resolve/main/missing.json`, { method: 'HEAD' });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-error-code')).toBe('EntryNotFound');
    expect(res.headers.get('x-repo-commit')).toBe(commit);
  });

  it('records requests with decoded paths, raw urls, headers, statuses and arrival times', async () => {
    hub.resetRequests();
    const sent = Date.now();
    await fetch(`${hub.url}/api/models/${REPO}/tree/main/sub%2Fdir?recursive=true`, { headers: auth() });
    expect(hub.requests).toEqual([
      {
        server: 'hub',
        method: 'GET',
        path: `/api/models/${REPO}/tree/main/sub/dir`,
        url: `/api/models/${REPO}/tree/main/sub%2Fdir?recursive=true`,
        headers: expect.objectContaining({ authorization: `Bearer ${hub.token}` }),
        status: 200,
        at: expect.any(Number),
      },
    ]);
    const at = hub.requests[0]?.at ?? 0;
    expect(at).toBeGreaterThanOrEqual(sent);
    expect(at).toBeLessThanOrEqual(Date.now());
  });
});
