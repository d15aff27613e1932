import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PartialDownloads } from '../../src/store/partial-downloads.js';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import {
  artifactsOf,
  contentGets,
  downloadAndWait,
  MiB,
  rangeStart,
  sha256File,
} from '../support/download-helpers.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

/** Resume, retry, parallel ranges and dedup of the download engine, against the fake hub's faults. */
let hub: FakeHub;
let t: TestApp;
const REPO = 'engine/files';

beforeAll(async () => {
  hub = await startFakeHub();
  t = await startTestApp(hub.url, {
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(2 * MiB),
    DOWNLOAD_CHUNK_BYTES: String(256 * 1024),
    DOWNLOAD_CONNECTIONS_PER_FILE: '4',
  });
  const files = [
    'rate-limited',
    'bursty',
    'cut-once',
    'cut-always',
    'ignores-range',
    'parallel',
    'parallel-cut',
    'parallel-resume',
    'parallel-throttled',
    'parallel-lone',
    'shared-a',
  ].map((name) => ({
    path: `${name}.bin`,
    content: {
      size:
        name === 'parallel-throttled' || name === 'parallel-lone'
          ? 24 * MiB
          : name.startsWith('parallel')
            ? 3 * MiB + 5
            : MiB + 3,
      seed: name === 'shared-a' ? 'shared' : name,
    },
  }));
  files.push({ path: 'shared-b.bin', content: { size: MiB + 3, seed: 'shared' } });
  await hub.addRepo({ id: REPO, files });
  await registerAndSync(t, REPO, 'Engine', 'Files');
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});
beforeEach(() => {
  hub.clearFaults();
  hub.resetRequests();
});

async function downloadOne(file: string) {
  const artifact = (await artifactsOf(t, REPO)).get(file);
  const job = await downloadAndWait(t, [artifact.id]);
  const after = (await artifactsOf(t, REPO)).get(file);
  return { job, artifact: after };
}

async function expectVerified(file: string, artifact: any) {
  const info = await hub.fileInfo(REPO, file);
  expect(artifact).toMatchObject({
    download_status: 'completed',
    sha256: info.sha256,
    bytes_downloaded: info.size,
  });
  expect(await sha256File(artifact.local_path)).toBe(info.sha256);
  expect(await fs.readdir(path.join(t.storePath, 'temp'))).toEqual([]);
}

describe('download engine', () => {
  it('waits out a 429 as long as upstream asks, then succeeds', async () => {
    hub.addFault({ filePath: 'rate-limited.bin', status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    const { job, artifact } = await downloadOne('rate-limited.bin');
    expect(job.status).toBe('completed');
    // The fake sends `RateLimit: "resolvers";r=0;t=1` with the 429: the reset time plus one second wins.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(job.logs.join('\n')).toMatch(
      /upstream answered 429 \(rate limited, Retry-After 2 s\), retry 1\/\d+ in 2 s \(rate-limited\.bin from byte 0\)/,
    );
    await expectVerified('rate-limited.bin', artifact);
  });

  it('rides out a burst of 503s', async () => {
    hub.addFault({ filePath: 'bursty.bin', status: 503, times: 4 });
    const { job, artifact } = await downloadOne('bursty.bin');
    expect(job.status).toBe('completed');
    expect(job.logs.filter((l: string) => l.includes('(bursty.bin from byte')).length).toBe(4);
    expect((await contentGets(hub, REPO, 'bursty.bin')).map((r) => r.status)).toEqual([
      503, 503, 503, 503, 200,
    ]);
    await expectVerified('bursty.bin', artifact);
  });

  it('resumes a cut connection with Range from where it stopped, not from 0', async () => {
    hub.addFault({ filePath: 'cut-once.bin', dropAfterBytes: 100_000 });
    const { job, artifact } = await downloadOne('cut-once.bin');
    expect(job.status).toBe('completed');
    const gets = await contentGets(hub, REPO, 'cut-once.bin');
    expect(gets.map(rangeStart)).toEqual([0, 100_000]);
    expect(gets[1]?.headers['if-range']).toBe(`"${(await hub.fileInfo(REPO, 'cut-once.bin')).sha256}"`);
    expect(gets[1]?.status).toBe(206);
    await expectVerified('cut-once.bin', artifact);
  });

  it('makes progress when every response is cut', async () => {
    hub.addFault({ filePath: 'cut-always.bin', dropAfterBytes: 200_000, times: 100 });
    const { job, artifact } = await downloadOne('cut-always.bin');
    expect(job.status).toBe('completed');
    const starts = (await contentGets(hub, REPO, 'cut-always.bin')).map(rangeStart);
    expect(starts).toEqual([0, 200_000, 400_000, 600_000, 800_000, 1_000_000]);
    await expectVerified('cut-always.bin', artifact);
  });

  it('starts over cleanly when upstream answers a range with the whole file', async () => {
    hub.addFault({ filePath: 'ignores-range.bin', dropAfterBytes: 300_000 });
    hub.addFault({ filePath: 'ignores-range.bin', ignoreRange: true });
    const { job, artifact } = await downloadOne('ignores-range.bin');
    expect(job.status).toBe('completed');
    expect(job.logs.join('\n')).toContain(
      'ignores-range.bin: upstream sent the whole file instead of the range',
    );
    const gets = await contentGets(hub, REPO, 'ignores-range.bin');
    expect(gets.map((r) => [rangeStart(r), r.status])).toEqual([
      [0, 200],
      [300_000, 200],
      [0, 200],
    ]);
    await expectVerified('ignores-range.bin', artifact);
  });

  it('fetches a large file as parallel ranges and verifies it as the last byte lands', async () => {
    const { job, artifact } = await downloadOne('parallel.bin');
    expect(job.status).toBe('completed');
    // Four connections to start with; a file this small is done before the controller's first look.
    expect(job.logs.join('\n')).toMatch(/Downloaded parallel.bin: 3145733 bytes .* over 4 connections/);
    const gets = await contentGets(hub, REPO, 'parallel.bin');
    expect(gets).toHaveLength(13);
    expect(gets.map((r) => r.headers.range).sort()).toContain(`bytes=${12 * 256 * 1024}-${3 * MiB + 4}`);
    expect(gets.every((r) => r.status === 206)).toBe(true);
    await expectVerified('parallel.bin', artifact);
  });

  /** Each response limited, as at a CDN edge: the probe settles on all four connections. */
  async function downloadThrottled(file: string) {
    hub.setThrottle(4_000_000);
    try {
      const { job, artifact } = await downloadOne(file);
      expect(job.status).toBe('completed');
      expect(job.logs.join('\n')).toMatch(/over 4 connections/);
      await expectVerified(file, artifact);
    } finally {
      hub.setThrottle(0);
    }
  }

  it('asks for larger ranges once every connection pays, shrinking them toward the end', async () => {
    await downloadThrottled('parallel-throttled.bin');
    const lengths = (await contentGets(hub, REPO, 'parallel-throttled.bin'))
      .sort((a, b) => rangeStart(a) - rangeStart(b))
      .map((r) => {
        const [from, to] = (r.headers.range as string).replace('bytes=', '').split('-').map(Number);
        return (to as number) - (from as number) + 1;
      });
    const chunk = 256 * 1024;
    const firstLarge = lengths.findIndex((n) => n > chunk);
    // The probe's ranges are the configured chunk; the settled ones are larger, then shrink.
    expect(firstLarge).toBeGreaterThan(0);
    expect(lengths.slice(0, firstLarge).every((n) => n === chunk)).toBe(true);
    const settled = lengths.slice(firstLarge, -1);
    expect(settled.every((n, i) => i === 0 || n <= (settled[i - 1] as number))).toBe(true);
    expect(settled.at(-1)).toBe(chunk);
  });

  it('streams the rest on the lone connection and cuts it back when the others return', async () => {
    // The probe's window on one connection shows that the full width pays.
    await downloadThrottled('parallel-lone.bin');
    const size = 24 * MiB;
    const gets = await contentGets(hub, REPO, 'parallel-lone.bin');
    // Closing the cut response costs what upstream had already sent on it: a piece of its pacing.
    const sent = gets.reduce((sum, r) => sum + (r.bodyBytes ?? 0), 0);
    console.log(`lone connection cut back: upstream sent ${sent - size} bytes more than the file`);
    expect(sent - size).toBeLessThan(MiB);
    const ranges = gets
      .map(
        (r) => (r.headers.range as string).replace('bytes=', '').split('-').map(Number) as [number, number],
      )
      .sort((a, b) => a[0] - b[0]);
    // The lone connection asked for everything after its start, in one response...
    const lone = ranges.find(([from, to]) => from > 0 && to === size - 1 && size - from > 256 * 1024);
    expect(lone).toBeDefined();
    const [loneFrom] = lone as [number, number];
    // ...and the connections that came back took over at least one chunk beyond where it had got.
    const next = ranges.find(([from]) => from > loneFrom) as [number, number];
    expect(next[0] - loneFrom).toBeGreaterThanOrEqual(256 * 1024);
    expect(next[0]).toBeLessThan(size - 256 * 1024);
  });

  it('resumes cut parallel parts inside their own range', async () => {
    hub.addFault({ filePath: 'parallel-cut.bin', dropAfterBytes: 100_000, times: 3 });
    const { job, artifact } = await downloadOne('parallel-cut.bin');
    expect(job.status).toBe('completed');
    const resumed = (await contentGets(hub, REPO, 'parallel-cut.bin')).filter(
      (r) => rangeStart(r) % (256 * 1024) !== 0,
    );
    expect(resumed.length).toBe(3);
    expect(resumed.every((r) => (rangeStart(r) % (256 * 1024)) % 100_000 === 0)).toBe(true);
    await expectVerified('parallel-cut.bin', artifact);
  });

  it('resumes a partial of a large file over parallel ranges, as a fresh download would', async () => {
    const file = 'parallel-resume.bin';
    const artifact = (await artifactsOf(t, REPO)).get(file);
    const info = await hub.fileInfo(REPO, file);
    // What a worker that died half-way left behind: less than the threshold remains, the file is above it.
    const prefix = MiB + MiB / 2;
    const partials = new PartialDownloads(path.join(t.storePath, 'temp'));
    await fs.mkdir(path.join(t.storePath, 'temp'), { recursive: true });
    await fs.writeFile(
      partials.dataPath(artifact.id),
      (await hub.expectedBytes(REPO, file)).subarray(0, prefix),
    );
    await partials.save(artifact.id, {
      version: 1,
      size: info.size,
      expected: info.sha256,
      validator: `"${info.sha256}"`,
      committedBytes: prefix,
    });
    const { job, artifact: after } = await downloadOne(file);
    expect(job.status).toBe('completed');
    expect(job.logs.join('\n')).toMatch(
      /Downloaded parallel-resume.bin: 1572869 bytes .* over 4 connections, resumed at byte 1572864\)/,
    );
    const gets = await contentGets(hub, REPO, file);
    expect(gets.map(rangeStart).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 7 }, (_, i) => prefix + i * 256 * 1024),
    );
    expect(gets.every((r) => r.status === 206 && r.headers['if-range'] === `"${info.sha256}"`)).toBe(true);
    await expectVerified(file, after);
  });

  it('downloads identical content requested by two jobs at once only once', async () => {
    const artifacts = await artifactsOf(t, REPO);
    const [a, b] = [artifacts.get('shared-a.bin'), artifacts.get('shared-b.bin')];
    const queued = await Promise.all([
      t.request('POST', '/v1/hub/download', { artifact_ids: [a.id] }),
      t.request('POST', '/v1/hub/download', { artifact_ids: [b.id] }),
    ]);
    const jobs = await Promise.all(queued.map((q) => t.waitForJob(q.body.job_id)));
    expect(jobs.map((j) => j.status)).toEqual(['completed', 'completed']);
    expect(jobs.map((j) => j.result.downloaded + j.result.deduplicated)).toEqual([1, 1]);
    expect(jobs.reduce((sum, j) => sum + j.result.downloaded, 0)).toBe(1);
    expect(await contentGets(hub, REPO, 'shared-a.bin')).toHaveLength(1);
    const after = await artifactsOf(t, REPO);
    expect(after.get('shared-a.bin').local_path).toBe(after.get('shared-b.bin').local_path);
    await expectVerified('shared-b.bin', after.get('shared-b.bin'));
  });
});
