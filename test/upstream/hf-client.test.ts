import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfClient, type UpstreamFile } from '../../src/upstream/hf-client.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';

/** Model info and the tree listing, asked for the way the official JS client asks. */
const REPO = 'acme/listed';

function clientFor(endpoint: string): HfClient {
  return new HfClient({
    endpoint,
    token: undefined,
    timeoutMs: 5000,
    stallTimeoutMs: 5000,
    retry: { maxRetries: 0, baseDelayMs: 1 },
    userAgent: 'test',
  });
}

async function collect(files: AsyncIterable<UpstreamFile>): Promise<UpstreamFile[]> {
  const all: UpstreamFile[] = [];
  for await (const file of files) all.push(file);
  return all;
}

describe('HfClient against the fake hub', () => {
  let hub: FakeHub;
  let client: HfClient;
  beforeAll(async () => {
    hub = await startFakeHub({ pageSize: 2 });
    await hub.addRepo({
      id: REPO,
      files: [
        { path: 'config.json', content: '{"a":1}' },
        { path: 'weights/model.safetensors', content: { size: 4096, seed: 'w' } },
        { path: 'weights/nested/tokenizer.json', content: '{}' },
        { path: 'README.md', content: '# listed' },
        { path: 'docs/a.txt', content: 'a' },
      ],
    });
    client = clientFor(hub.url);
  });
  afterAll(async () => {
    await client.close();
    await hub.close();
  });

  it('resolves a revision to its commit through model info with expand=sha', async () => {
    hub.resetRequests();
    const commit = await client.resolveCommit(REPO, 'main');
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(hub.requests.map((r) => r.url)).toEqual([
      `/api/models/${REPO}/revision/main?expand=sha&expand=gated`,
    ]);
  });

  it('lists every file of every page, with sizes, oids and LFS hashes, and no directories', async () => {
    const commit = await client.resolveCommit(REPO, 'main');
    hub.resetRequests();
    const files = await collect(client.listFiles(REPO, commit));
    const treePages = hub.requests.filter((r) => r.path.includes('/tree/'));
    expect(treePages[0]?.url).toBe(`/api/models/${REPO}/tree/${commit}?recursive=true&expand=false`);
    expect(treePages.length).toBeGreaterThan(3);
    expect(treePages.slice(1).every((r) => /[?&]cursor=/.test(r.url))).toBe(true);
    expect(files.map((f) => f.path).sort()).toEqual([
      'README.md',
      'config.json',
      'docs/a.txt',
      'weights/model.safetensors',
      'weights/nested/tokenizer.json',
    ]);
    for (const file of files) {
      const info = await hub.fileInfo(REPO, file.path);
      expect(file.size).toBe(info.size);
      expect(file.lfsSha256).toBe(info.lfs ? info.sha256 : null);
      if (!info.lfs) expect(file.oid).toBe(info.gitSha1);
    }
  });
});

describe('HfClient on answers that are not what the hub sends', () => {
  let server: http.Server;
  let client: HfClient;
  const bodies = new Map<string, string>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] as string;
      res.writeHead(200, { 'content-type': 'application/json' }).end(bodies.get(path) ?? '[]');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses model info that is not JSON or names no commit', async () => {
    bodies.set(`/api/models/${REPO}/revision/main`, '<html>busy</html>');
    await expect(client.resolveCommit(REPO, 'main')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: `Upstream model info for ${REPO}@main is not JSON`,
    });
    bodies.set(`/api/models/${REPO}/revision/main`, '{"id":"acme/listed"}');
    await expect(client.resolveCommit(REPO, 'main')).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: `Upstream model info for ${REPO} has no commit sha`,
    });
  });

  it('refuses a tree page that is not a list', async () => {
    const commit = 'a'.repeat(40);
    bodies.set(`/api/models/${REPO}/tree/${commit}`, '{"error":"no"}');
    await expect(collect(client.listFiles(REPO, commit))).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      message: `Upstream file list of ${REPO}@aaaaaaaaaaaa is not a list`,
    });
  });
});
