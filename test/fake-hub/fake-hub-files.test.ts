import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from './fake-hub.js';

const MiB = 1024 * 1024;
const REPO = 'acme/files';
const BIG = 'model.safetensors';

let hub: FakeHub;
let commit: string;

beforeAll(async () => {
  hub = await startFakeHub();
  ({ commit } = await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"hidden_size":8}\n' },
      { path: BIG, content: { size: 3 * MiB + 11, seed: 'files-big' } },
      { path: 'empty.txt', content: '' },
    ],
  }));
});

afterAll(async () => {
  await hub.close();
});

const resolveUrl = (path: string, rev = 'main') => `${hub.url}/${REPO}/resolve/${rev}/${path}`;

async function cdnLocation(path: string): Promise<string> {
  const res = await fetch(resolveUrl(path), { redirect: 'manual' });
  expect(res.status).toBe(302);
  return res.headers.get('location') ?? '';
}

/** Reads a body until it ends or fails; returns the bytes received and whether it failed. */
async function readAll(res: Response): Promise<{ bytes: Buffer; failed: boolean }> {
  const parts: Uint8Array[] = [];
  const reader = res.body?.getReader();
  if (!reader) return { bytes: Buffer.alloc(0), failed: false };
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    return { bytes: Buffer.concat(parts), failed: false };
  } catch {
    return { bytes: Buffer.concat(parts), failed: true };
  }
}

describe('resolve', () => {
  it('serves small files with 200, ETag git sha1, X-Repo-Commit and Range', async () => {
    const info = await hub.fileInfo(REPO, 'config.json');
    const head = await fetch(resolveUrl('config.json'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(`"${info.gitSha1}"`);
    expect(head.headers.get('x-repo-commit')).toBe(commit);
    expect(head.headers.get('content-length')).toBe(String(info.size));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(head.headers.get('content-type')).toBe('application/octet-stream');
    expect(head.headers.get('ratelimit')).toBe('"resolvers";r=2999;t=172');
    expect(head.headers.get('access-control-expose-headers')).toContain('X-Linked-Size');
    expect(head.headers.get('x-request-id')).toMatch(/^Root=1-/);
    const ranged = await fetch(resolveUrl('config.json'), { headers: { range: 'bytes=0-0' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-0/${info.size}`);
    expect(await ranged.text()).toBe('{');
    const empty = await fetch(resolveUrl('empty.txt'));
    expect(empty.headers.get('etag')).toBe('"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"');
    expect(await empty.text()).toBe('');
  });

  it('redirects LFS files to the CDN with X-Linked-* metadata', async () => {
    const info = await hub.fileInfo(REPO, BIG);
    const res = await fetch(resolveUrl(BIG), {
      method: 'HEAD',
      redirect: 'manual',
      headers: { authorization: `Bearer ${hub.token}` },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-repo-commit')).toBe(commit);
    expect(res.headers.get('x-linked-etag')).toBe(`"${info.sha256}"`);
    expect(res.headers.get('x-linked-size')).toBe(String(info.size));
    expect(res.headers.get('etag')).not.toContain(info.sha256);
    expect(Number(res.headers.get('content-length'))).toBeLessThan(1000);
    const location = res.headers.get('location') ?? '';
    const s = info.sha256;
    expect(location).toMatch(
      new RegExp(`^${hub.cdnUrl}/repos/${s.slice(0, 2)}/${s.slice(2, 4)}/${s}\\?Expires=\\d+&Signature=`),
    );
    expect(new URL(location).host).not.toBe(new URL(hub.url).host);
  });

  it('follows a 307 to resolve-cache when smallFileRedirect is on', async () => {
    const other = await startFakeHub({ smallFileRedirect: true });
    try {
      const { commit: c } = await other.addRepo({
        id: 'acme/small',
        files: [{ path: 'dir/a b.json', content: '{}' }],
      });
      const sha1 = (await other.fileInfo('acme/small', 'dir/a b.json')).gitSha1;
      const res = await fetch(`${other.url}/acme/small/resolve/main/dir/a%20b.json`, {
        method: 'HEAD',
        redirect: 'manual',
      });
      expect(res.status).toBe(307);
      expect(res.headers.get('x-repo-commit')).toBe(c);
      const location = res.headers.get('location') ?? '';
      expect(location).toBe(`/api/resolve-cache/models/acme/small/${c}/dir/a%20b.json?etag=%22${sha1}%22`);
      // Py drops the redirect's query string: the target must not need it.
      const target = await fetch(`${other.url}${location.split('?')[0]}`);
      expect(target.status).toBe(200);
      expect(target.headers.get('etag')).toBe(`"${sha1}"`);
      expect(await target.text()).toBe('{}');
    } finally {
      await other.close();
    }
  });
});

describe('cdn', () => {
  it('serves 200, 206 ranges equal to the expected bytes, and 416', async () => {
    const info = await hub.fileInfo(REPO, BIG);
    const expected = await hub.expectedBytes(REPO, BIG);
    const location = await cdnLocation(BIG);
    const full = await fetch(location);
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(`"${info.sha256}"`);
    expect(full.headers.get('content-length')).toBe(String(info.size));
    const body = Buffer.from(await full.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(info.sha256);
    for (const [range, start, end] of [
      [`bytes=${MiB - 5}-`, MiB - 5, info.size - 1],
      ['bytes=10-1048600', 10, 1048600],
      ['bytes=0-0', 0, 0],
    ] as const) {
      const res = await fetch(location, { headers: { range } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${info.size}`);
      expect(res.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer()).equals(expected.subarray(start, end + 1))).toBe(true);
    }
    const bad = await fetch(location, { headers: { range: `bytes=${info.size}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${info.size}`);
    await bad.arrayBuffer();
  });

  it('honours If-Range and never sees the Authorization header from a manual redirect', async () => {
    const info = await hub.fileInfo(REPO, BIG);
    const location = await cdnLocation(BIG);
    hub.resetRequests();
    const match = await fetch(location, { headers: { range: 'bytes=5-9', 'if-range': `"${info.sha256}"` } });
    expect(match.status).toBe(206);
    await match.arrayBuffer();
    const stale = await fetch(location, {
      method: 'HEAD',
      headers: { range: 'bytes=5-9', 'if-range': '"0000"' },
    });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('content-length')).toBe(String(info.size));
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn.map((r) => [r.method, r.headers.range, r.status])).toEqual([
      ['GET', 'bytes=5-9', 206],
      ['HEAD', 'bytes=5-9', 200],
    ]);
    expect(cdn.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('refuses expired and tampered signatures with 403', async () => {
    const location = await cdnLocation(BIG);
    const tampered = await fetch(
      location.replace(/Expires=(\d+)/, (_m, e: string) => `Expires=${Number(e) + 1}`),
    );
    expect(tampered.status).toBe(403);
    await tampered.text();
    const expiring = await startFakeHub({ signedUrlTtlSeconds: -5 });
    try {
      await expiring.addRepo({ id: 'acme/x', files: [{ path: 'w.bin', content: 'weights' }] });
      const res = await fetch(`${expiring.url}/acme/x/resolve/main/w.bin`, { redirect: 'manual' });
      const expired = await fetch(res.headers.get('location') ?? '');
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('Request has expired');
    } finally {
      await expiring.close();
    }
  });
});

describe('faults', () => {
  it('answers 503 with Retry-After once, then serves normally', async () => {
    hub.addFault({ filePath: 'config.json', status: 503, retryAfterSeconds: 2 });
    const first = await fetch(resolveUrl('config.json'));
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(((await first.json()) as { error: string }).error).toBeTruthy();
    const second = await fetch(resolveUrl('config.json'));
    expect(second.status).toBe(200);
    expect(await second.text()).toBe('{"hidden_size":8}\n');
  });

  it('drops the connection after N bytes on the CDN, then serves the resume', async () => {
    const expected = await hub.expectedBytes(REPO, BIG);
    const location = await cdnLocation(BIG);
    hub.addFault({ filePath: BIG, dropAfterBytes: 100_000 });
    const cut = await readAll(await fetch(location));
    expect(cut.failed).toBe(true);
    expect(cut.bytes.equals(expected.subarray(0, 100_000))).toBe(true);
    const resumed = await fetch(location, { headers: { range: 'bytes=100000-' } });
    expect(resumed.status).toBe(206);
    expect(Buffer.concat([cut.bytes, Buffer.from(await resumed.arrayBuffer())]).equals(expected)).toBe(true);
  });

  it('corrupts one byte, and applies `times` per matching GET only', async () => {
    const expected = await hub.expectedBytes(REPO, 'config.json');
    hub.addFault({ filePath: 'config.json', corrupt: true, times: 2 });
    await (await fetch(resolveUrl('config.json'), { method: 'HEAD' })).arrayBuffer();
    for (let i = 0; i < 2; i++) {
      const bytes = Buffer.from(await (await fetch(resolveUrl('config.json'))).arrayBuffer());
      expect(bytes.length).toBe(expected.length);
      expect(bytes.equals(expected)).toBe(false);
      expect([...bytes].filter((b, j) => b !== expected[j]).length).toBe(1);
    }
    expect(Buffer.from(await (await fetch(resolveUrl('config.json'))).arrayBuffer()).equals(expected)).toBe(
      true,
    );
  });

  it('stalls a body until close(), which returns quickly', async () => {
    const other = await startFakeHub({ throttleBytesPerSecond: 4 * MiB });
    await other.addRepo({
      id: 'acme/stall',
      files: [{ path: 'w.bin', content: { size: 2 * MiB, seed: 'stall' } }],
    });
    other.addFault({ filePath: 'w.bin', stallAfterBytes: 1000 });
    const redirect = await fetch(`${other.url}/acme/stall/resolve/main/w.bin`, { redirect: 'manual' });
    const res = await fetch(redirect.headers.get('location') ?? '');
    const reader = res.body?.getReader();
    let got = 0;
    while (got < 1000) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      got += chunk.value.length;
    }
    expect(got).toBe(1000);
    const pending = reader?.read().then(
      () => 'ended',
      () => 'failed',
    );
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('failed');
  });
});

describe('throttling', () => {
  it('limits the CDN body rate per response', async () => {
    const slow = await startFakeHub({ throttleBytesPerSecond: 2 * MiB });
    try {
      await slow.addRepo({
        id: 'acme/slow',
        files: [{ path: 'w.bin', content: { size: MiB, seed: 'slow' } }],
      });
      const redirect = await fetch(`${slow.url}/acme/slow/resolve/main/w.bin`, { redirect: 'manual' });
      const started = Date.now();
      const res = await fetch(redirect.headers.get('location') ?? '', {
        headers: { range: 'bytes=0-524287' },
      });
      const body = Buffer.from(await res.arrayBuffer());
      const elapsed = Date.now() - started;
      expect(body.equals((await slow.expectedBytes('acme/slow', 'w.bin')).subarray(0, 524288))).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(200);
      expect(elapsed).toBeLessThan(1500);
    } finally {
      await slow.close();
    }
  });
});

describe('hostile repos', () => {
  it('lists odd paths verbatim and serves them where a URL can express them', async () => {
    const paths = ['../evil.txt', '/etc/evil', 'a/../../b.txt', 'ok/./x', 'nul\u0000byte'];
    await hub.addRepo({
      id: 'evil/repo',
      files: paths.map((p, i) => ({ path: p, content: `payload ${i}` })),
    });
    const tree = (await (await fetch(`${hub.url}/api/models/evil/repo/tree/main?recursive=true`)).json()) as {
      type: string;
      path: string;
    }[];
    const files = tree.filter((e) => e.type === 'file').map((e) => e.path);
    expect(files.sort()).toEqual([...paths].sort());
    for (const [i, p] of paths.entries()) {
      const res = await fetch(`${hub.url}/evil/repo/resolve/main/${encodeURIComponent(p)}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`payload ${i}`);
    }
  });
});
