import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import { waitFor } from '../support/child-server.js';
import {
  hfError,
  MANY,
  type MirrorFixture,
  sha256,
  startMirrorFixture,
  TINY,
} from '../support/mirror-fixture.js';
import { registerAndSync } from '../support/test-app.js';

/**
 * `/{repo}/resolve/{rev}/{path}` read raw: the headers HF clients read off a resolve, byte ranges,
 * and the hub's errors for what it does not hold.
 */
let f: MirrorFixture;
const WEIGHTS = 'model.safetensors';

beforeAll(async () => {
  f = await startMirrorFixture();
});

afterAll(async () => {
  await f?.close();
});

const resolve = (rev: string, path: string, init: RequestInit = {}) =>
  fetch(`${f.base}/${TINY}/resolve/${rev}/${path}`, init);

/** File descriptors of this process (the hub runs in it) open on `file`. */
async function openDescriptors(file: string): Promise<number> {
  const fds = await fs.readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => fs.readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => t === file).length;
}

function expectNoXet(response: Response) {
  const names = [...response.headers.keys()];
  expect(names.filter((n) => n.startsWith('x-xet'))).toEqual([]);
  expect(response.headers.get('link') ?? '').not.toMatch(/xet/);
  expect(response.headers.get('location')).toBeNull();
}

describe(`resolve (${BACKEND})`, () => {
  it('serves a small git file 200 directly: commit, git sha1 ETag, length, ranges advertised', async () => {
    const upstream = await f.hub.fileInfo(TINY, 'config.json');
    for (const method of ['HEAD', 'GET']) {
      const response = await resolve('main', 'config.json', { method });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-repo-commit')).toBe(f.commit.tiny);
      expect(response.headers.get('etag')).toBe(`"${upstream.gitSha1}"`);
      expect(response.headers.get('content-length')).toBe(String(upstream.size));
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      expect(response.headers.get('x-linked-etag')).toBeNull();
      expect(response.headers.get('access-control-expose-headers')).toMatch(
        /X-Repo-Commit.*ETag.*Content-Range.*X-Linked-Size,X-Linked-ETag/,
      );
      expectNoXet(response);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.length).toBe(method === 'HEAD' ? 0 : upstream.size);
      if (method === 'GET') expect(sha256(body)).toBe(upstream.sha256);
    }
  });

  it('serves an LFS file with its sha256 as ETag and X-Linked-Etag, and X-Linked-Size', async () => {
    const upstream = await f.hub.fileInfo(TINY, WEIGHTS);
    expect(upstream.lfs).toBe(true);
    const response = await resolve(f.commit.tiny, WEIGHTS);
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe(`"${upstream.sha256}"`);
    expect(response.headers.get('x-linked-etag')).toBe(`"${upstream.sha256}"`);
    expect(response.headers.get('x-linked-size')).toBe(String(upstream.size));
    expect(response.headers.get('content-length')).toBe(String(upstream.size));
    expectNoXet(response);
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(upstream.sha256);
  });

  it('answers ranges 206 with Content-Range, and 416 with the total when none is satisfiable', async () => {
    const upstream = await f.hub.fileInfo(TINY, WEIGHTS);
    const expected = await f.hub.expectedBytes(TINY, WEIGHTS);
    const size = upstream.size;
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=1048570-2097160', 1048570, 2097160],
      [`bytes=${size - 5}-`, size - 5, size - 1],
      ['bytes=-10', size - 10, size - 1],
      [`bytes=-${size + 100}`, 0, size - 1],
      [`bytes=10-${size + 1000}`, 10, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await resolve('main', WEIGHTS, { headers: { range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(response.headers.get('content-length'), range).toBe(String(end - start + 1));
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.equals(expected.subarray(start, end + 1)), range).toBe(true);
    }
    const head = await resolve('main', WEIGHTS, { method: 'HEAD', headers: { range: 'bytes=0-0' } });
    expect([head.status, head.headers.get('content-range')]).toEqual([206, `bytes 0-0/${size}`]);

    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const response = await resolve('main', WEIGHTS, { headers: { range } });
      expect(response.status, range).toBe(416);
      expect(response.headers.get('content-range'), range).toBe(`bytes */${size}`);
      expect((await hfError(response)).body).toEqual({ error: expect.stringContaining('not satisfiable') });
    }
    // Junk and multi-range are ignored (the whole file), as is a range of another version (If-Range).
    for (const headers of [
      { range: 'bytes=0-0,5-9' } as Record<string, string>,
      { range: 'items=0-1' },
      { range: 'bytes=0-0', 'if-range': '"0000"' },
    ]) {
      const response = await resolve('main', WEIGHTS, { headers });
      expect(response.status, JSON.stringify(headers)).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(size));
      await response.arrayBuffer();
    }
    const sameVersion = await resolve('main', WEIGHTS, {
      headers: { range: 'bytes=0-0', 'if-range': `"${upstream.sha256}"` },
    });
    expect(sameVersion.status).toBe(206);
    await sameVersion.arrayBuffer();
  });

  it('serves an empty file to a bytes=0-0 probe as 200 with its total (0) in Content-Range', async () => {
    const response = await resolve('main', 'empty.txt', { headers: { range: 'bytes=0-0' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-range')).toBe('bytes */0');
    expect(response.headers.get('content-length')).toBe('0');
    expect(response.headers.get('etag')).toBe('"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"');
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it('resolves every name of the synced commit, revisions encoded or raw, paths with / or %2F', async () => {
    const upstream = await f.hub.fileInfo(TINY, 'nested/deeper/notes.txt');
    for (const rev of ['main', 'HEAD', f.commit.tiny, 'refs%2Fheads%2Fmain', 'refs/heads/main']) {
      for (const path of ['nested/deeper/notes.txt', 'nested%2Fdeeper%2Fnotes.txt']) {
        const response = await resolve(rev, path);
        expect(response.status, `${rev} ${path}`).toBe(200);
        expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(upstream.sha256);
      }
    }
  });

  it('answers what neither it nor upstream holds as the hub does: RevisionNotFound, EntryNotFound, RepoNotFound', async () => {
    const held = ` (this hub holds ${TINY} at main, commit ${f.commit.tiny}, and serves that one commit)`;
    for (const [rev, shown] of [
      ['refs%2Fpr%2F1', 'refs/pr/1'],
      ['refs/pr/1', 'refs/pr/1'],
      ['v2.0', 'v2.0'],
      ['0000000000000000000000000000000000000000', '0000000000000000000000000000000000000000'],
    ] as const) {
      const error = await hfError(await resolve(rev, 'config.json'));
      expect(error, rev).toEqual({
        status: 404,
        code: 'RevisionNotFound',
        message: `Invalid rev id: ${shown}${held}`,
        body: { error: `Invalid rev id: ${shown}${held}` },
      });
    }

    const missing = await resolve('main', 'no/such.bin');
    expect(missing.headers.get('x-repo-commit')).toBe(f.commit.tiny);
    expect(await hfError(missing)).toMatchObject({ status: 404, code: 'EntryNotFound' });

    // Not downloaded yet: pulled through (MIRROR_MODE=offline answers EntryNotFound: mirror-pull-repo.test.ts).
    const shard = 'shards/part-0007.safetensors';
    const head = await fetch(`${f.base}/${MANY}/resolve/main/${shard}`, { method: 'HEAD' });
    const upstream = await f.hub.fileInfo(MANY, shard);
    expect(upstream.lfs).toBe(true);
    expect([head.status, head.headers.get('etag'), head.headers.get('content-length')]).toEqual([
      200,
      `"${upstream.sha256}"`,
      String(upstream.size),
    ]);
    const pulled = await fetch(`${f.base}/${MANY}/resolve/main/${shard}`);
    expect(pulled.headers.get('x-repo-commit')).toBe(f.commit.many);
    expect(sha256(Buffer.from(await pulled.arrayBuffer()))).toBe(upstream.sha256);

    for (const url of ['/org/absent/resolve/main/config.json', '/gpt2/resolve/main/config.json']) {
      expect(await hfError(await fetch(`${f.base}${url}`)), url).toMatchObject({
        status: 404,
        code: 'RepoNotFound',
      });
    }
  });

  it('closes the file when the client goes away mid-body, and serves the next request', async () => {
    // Bigger than what the loopback socket buffers hold, so the hub is still reading when the client stops.
    const repo = 'org/big-body';
    const file = 'weights.safetensors';
    await f.hub.addRepo({
      id: repo,
      files: [{ path: file, content: { size: 64 * 1024 * 1024, seed: 'big-body' } }],
    });
    await registerAndSync(f.t, repo, 'Org', 'BigBody');
    const download = await f.t.request('POST', '/v1/hub/download', { repo_id: repo });
    expect((await f.t.waitForJob(download.body.job_id)).status).toBe('completed');
    const upstream = await f.hub.fileInfo(repo, file);
    const blob = path.join(f.t.storePath, 'blobs', 'sha256', upstream.sha256);
    // Its own connection (no pool): the client reads one chunk, stops reading, then hangs up.
    const request = http.get(`${f.base}/${repo}/resolve/main/${file}`, { agent: false });
    const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve));
    await new Promise((resolve) => response.once('data', resolve));
    response.pause();
    expect(await openDescriptors(blob)).toBe(1);
    request.destroy();
    await waitFor(
      'the blob closed',
      async () => ((await openDescriptors(blob)) === 0 ? true : undefined),
      5000,
    );
    const again = await fetch(`${f.base}/${repo}/resolve/main/${file}`, { headers: { range: 'bytes=0-0' } });
    expect(again.status).toBe(206);
    await again.arrayBuffer();
  });
});
