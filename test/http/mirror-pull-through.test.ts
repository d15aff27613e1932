import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import { type MirrorFixture, pull, startMirrorFixture } from '../support/mirror-fixture.js';
import { registerAndSync } from '../support/test-app.js';

/**
 * Pull-through of files the hub does not hold: concurrent clients asking for a file of a repo the
 * hub has never seen are served from the one sync and the one download while it runs (bytes below
 * the durable offset the engine publishes), and a download that fails (a corrupted upstream body)
 * cuts every client's response short.
 *
 * The file is 200 MiB, above the parallel threshold, so the engine fetches it over several range
 * requests (8 MiB/s each, a few seconds in all) while the clients read the contiguous prefix.
 */
const BIG = 'org/big';
/** A repo the hub has never seen until the clients ask for its weights. */
const UNSEEN = 'org/unseen-big';
const WEIGHTS = 'model.safetensors';
const CORRUPT = 'corrupt.safetensors';
const RANGED = 'ranged.safetensors';
const MiB = 1024 * 1024;
const RANGED_SIZE = 160 * MiB;
const SIZE = 200 * 1024 * 1024;
const THROTTLE_BYTES_PER_SECOND = 8 * 1024 * 1024;

let f: MirrorFixture;
let artifactIds: Map<string, string>;
let modelId: string;
let unseenCommit: string;

beforeAll(async () => {
  f = await startMirrorFixture({}, { throttleBytesPerSecond: THROTTLE_BYTES_PER_SECOND });
  await f.hub.addRepo({
    id: BIG,
    files: [
      { path: 'config.json', content: '{"model_type":"big"}' },
      { path: CORRUPT, content: { size: 32 * 1024 * 1024, seed: 'pull-through-corrupt' } },
      { path: RANGED, content: { size: RANGED_SIZE, seed: 'pull-through-ranged' } },
    ],
  });
  const unseen = await f.hub.addRepo({
    id: UNSEEN,
    files: [
      { path: 'config.json', content: '{"model_type":"unseen"}' },
      { path: WEIGHTS, content: { size: SIZE, seed: 'pull-through-big' } },
    ],
  });
  unseenCommit = unseen.commit;
  const { model, artifacts } = await registerAndSync(f.t, BIG, 'Org', 'Big');
  modelId = model.id;
  artifactIds = new Map([...artifacts].map(([p, a]) => [p, a.id as string]));
}, 60_000);

afterAll(async () => {
  await f?.close();
});

async function artifactEventAt(type: string, artifactId: string): Promise<number | undefined> {
  const row = await f.t.app.db
    .selectFrom('events')
    .select('at')
    .where('type', '=', type as 'artifact.completed')
    .where('artifactId', '=', artifactId)
    .executeTakeFirst();
  return row ? Date.parse(row.at) : undefined;
}

async function downloadJobsOf(artifactId: string): Promise<any[]> {
  const jobs = await f.t.request('GET', '/v1/hub/jobs?type=download&limit=100');
  return jobs.body.items.filter((j: any) => j.payload.artifact_ids.includes(artifactId));
}

const cdnGets = (sha256: string) =>
  f.hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.path.includes(sha256));

/** The byte ranges upstream was asked for (a GET without Range is the whole file), sorted. */
function requestedRanges(sha256: string, size: number): [number, number][] {
  return cdnGets(sha256)
    .map((r): [number, number] => {
      const match = /^bytes=(\d+)-(\d*)$/.exec(String(r.headers.range ?? ''));
      if (!match) return [0, size - 1];
      return [Number(match[1]), match[2] ? Number(match[2]) : size - 1];
    })
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Upstream was asked for every byte of the file once: the ranges tile [0, size). A range that asks
 * for the rest of the file and is followed by others is a lone connection's that was cut back when
 * more connections joined: the ranges after it take over where it was cut.
 */
function expectServedOnce(sha256: string, size: number): void {
  let next = 0;
  let restFrom: number | undefined;
  for (const [start, end] of requestedRanges(sha256, size)) {
    if (restFrom !== undefined && start < next) expect(start).toBeGreaterThan(restFrom);
    else expect(start).toBe(next);
    restFrom = end === size - 1 ? start : undefined;
    next = end + 1;
  }
  expect(next).toBe(size);
}

describe(`pull-through streaming (${BACKEND})`, () => {
  it('streams a file of a never-seen repo to 5 concurrent clients while it downloads: one sync, one download, same bytes, first bytes before it ends', async () => {
    const upstream = await f.hub.fileInfo(UNSEEN, WEIGHTS);
    const url = `${f.base}/${UNSEEN}/resolve/main/${WEIGHTS}`;
    const clients = await Promise.all(Array.from({ length: 5 }, () => pull(url)));
    const models = (await f.t.request('GET', '/v1/hub/models')).body.items as any[];
    const unseenModel = models.find((m) => m.repo_id === UNSEEN);
    expect(unseenModel).toMatchObject({ revision: 'main', commit_sha: unseenCommit });
    const syncs = (await f.t.request('GET', '/v1/hub/jobs?type=sync&limit=100')).body.items as any[];
    expect(syncs.filter((j) => j.payload.repo_id === UNSEEN)).toHaveLength(1);
    const listed = await f.t.request('GET', `/v1/hub/models/${unseenModel.id}/artifacts`);
    const artifactId = listed.body.items.find((a: any) => a.path === WEIGHTS).id as string;

    for (const client of clients) {
      expect(client.error).toBeUndefined();
      expect(client.status).toBe(200);
      expect(client.headers.get('content-length')).toBe(String(SIZE));
      expect(client.headers.get('etag')).toBe(`"${upstream.sha256}"`);
      expect(client.headers.get('x-linked-size')).toBe(String(SIZE));
      expect(client.headers.get('x-repo-commit')).toBe(unseenCommit);
      expect([client.bytes, client.sha256]).toEqual([SIZE, upstream.sha256]);
    }
    const completedAt = await artifactEventAt('artifact.completed', artifactId);
    expect(completedAt).toBeDefined();
    const started = Math.min(...clients.map((c) => c.startedAt));
    for (const client of clients) expect(client.firstChunkAt).toBeLessThan(completedAt as number);
    const firstBytes = clients.map((c) => (c.firstChunkAt as number) - c.startedAt);
    console.log(
      `pull-through of a never-seen repo, ${SIZE / 1024 / 1024} MiB at ${THROTTLE_BYTES_PER_SECOND / MiB} MiB/s per upstream connection, 5 clients: time to first byte ${Math.min(...firstBytes)}-${Math.max(...firstBytes)} ms, ` +
        `download committed after ${(completedAt as number) - started} ms`,
    );

    // Fetched over several range requests (the file is above the parallel threshold), each byte once.
    expect(cdnGets(upstream.sha256).length).toBeGreaterThan(1);
    expectServedOnce(upstream.sha256, SIZE);
    expect(await downloadJobsOf(artifactId)).toHaveLength(1);
    const blob = path.join(f.t.storePath, 'blobs', 'sha256', upstream.sha256);
    expect((await fs.stat(blob)).size).toBe(SIZE);

    // Stored now: served from blobs/ like any stored file, with no new download.
    const again = await pull(url);
    expect([again.status, again.sha256]).toEqual([200, upstream.sha256]);
    expectServedOnce(upstream.sha256, SIZE);
  }, 60_000);

  it('a corrupted upstream body breaks every streaming client, stores nothing, and fails the artifact', async () => {
    const upstream = await f.hub.fileInfo(BIG, CORRUPT);
    const artifactId = artifactIds.get(CORRUPT) as string;
    f.hub.addFault({ filePath: CORRUPT, corrupt: true });
    const url = `${f.base}/${BIG}/resolve/main/${CORRUPT}`;
    const clients = await Promise.all(Array.from({ length: 3 }, () => pull(url)));

    for (const client of clients) {
      expect(client.status).toBe(200);
      expect(client.firstChunkAt).toBeDefined();
      // The connection is cut: the body read rejects, and never with the whole file.
      expect(client.error).toBeDefined();
      expect(client.bytes).toBeLessThan(upstream.size);
    }
    const artifacts = await f.t.request('GET', `/v1/hub/models/${modelId}/artifacts`);
    const artifact = artifacts.body.items.find((a: any) => a.id === artifactId);
    expect(artifact.download_status).toBe('failed');
    expect(artifact.error).toMatch(/IntegrityError/);
    const blobs = await fs.readdir(path.join(f.t.storePath, 'blobs', 'sha256'));
    expect(blobs).not.toContain(upstream.sha256);
    const temp = await fs.readdir(path.join(f.t.storePath, 'temp'));
    expect(temp.filter((name) => name.startsWith(artifactId))).toEqual([]);
  }, 60_000);
  it('serves byte ranges of a file while it downloads: 206 with exactly the slice asked for', async () => {
    const artifactId = artifactIds.get(RANGED) as string;
    const upstream = await f.hub.fileInfo(BIG, RANGED);
    const url = `${f.base}/${BIG}/resolve/main/${RANGED}`;
    const ranges: [number, number][] = [
      [0, MiB - 1],
      [40 * MiB, 41 * MiB - 1],
      // Ends at the last byte: sent only once the whole file is verified.
      [RANGED_SIZE - 100, RANGED_SIZE - 1],
    ];
    const clients = await Promise.all(
      ranges.map(([start, end]) => pull(url, { headers: { range: `bytes=${start}-${end}` } })),
    );
    const completedAt = await artifactEventAt('artifact.completed', artifactId);
    expect(completedAt).toBeDefined();
    const blob = await fs.readFile(path.join(f.t.storePath, 'blobs', 'sha256', upstream.sha256));
    expect(createHash('sha256').update(blob).digest('hex')).toBe(upstream.sha256);
    clients.forEach((client, i) => {
      const [start, end] = ranges[i] as [number, number];
      expect(client.error).toBeUndefined();
      expect(client.status).toBe(206);
      expect(client.headers.get('content-range')).toBe(`bytes ${start}-${end}/${RANGED_SIZE}`);
      expect(client.bytes).toBe(end - start + 1);
      expect(client.sha256).toBe(
        createHash('sha256')
          .update(blob.subarray(start, end + 1))
          .digest('hex'),
      );
    });
    // The first megabyte reached its client while the file was still downloading.
    expect(clients[0]?.firstChunkAt).toBeLessThan(completedAt as number);
    expect(await downloadJobsOf(artifactId)).toHaveLength(1);
  }, 60_000);
});
