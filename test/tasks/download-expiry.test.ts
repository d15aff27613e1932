import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** A stalled body is aborted, and a signed URL that expired meanwhile is re-resolved, then resumed. */
let hub: FakeHub;
let t: TestApp;

beforeAll(async () => {
  // A signed URL expires at a whole second, so it lives between TTL - 1 and TTL seconds: at least
  // 2 s from its resolve to the first GET (1 s was too short on a busy CI machine), and it expires
  // during the stall, which lasts longer than the TTL.
  hub = await startFakeHub({ signedUrlTtlSeconds: 3 });
  t = await startTestApp(hub.url, { DOWNLOAD_STALL_TIMEOUT_MS: '3500' });
  await hub.addRepo({
    id: 'cdn/expiry',
    files: [{ path: 'weights.bin', content: { size: MiB, seed: 'expiry' } }],
  });
  await registerAndSync(t, 'cdn/expiry', 'Cdn', 'Expiry');
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

describe('stalls and expiring CDN URLs', () => {
  it('aborts a stalled body, re-resolves the expired signed URL and resumes', async () => {
    hub.resetRequests();
    hub.addFault({ filePath: 'weights.bin', stallAfterBytes: 150_000 });
    const artifact = (await artifactsOf(t, 'cdn/expiry')).get('weights.bin');
    const job = await downloadAndWait(t, [artifact.id]);
    expect(job.status).toBe('completed');
    const logs = job.logs.join('\n');
    expect(logs).toMatch(
      /upstream (timed out|failed: .*[Tt]imeout).*, retry 1\/\d+ in .+ \(weights\.bin from byte 150000\)/,
    );
    expect(logs).toMatch(
      /signed download URL refused \(HTTP 403\), retry 2\/\d+ in .+ \(weights\.bin from byte 150000\)/,
    );
    const gets = await contentGets(hub, 'cdn/expiry', 'weights.bin');
    expect(gets.map((r) => [rangeStart(r), r.status])).toEqual([
      [0, 200],
      [150_000, 403],
      [150_000, 206],
    ]);
    const resolves = hub.requests.filter(
      (r) => r.method === 'HEAD' && r.path.endsWith(`/resolve/${artifact.commit_sha}/weights.bin`),
    );
    expect(resolves).toHaveLength(2);
    expect(gets[2]?.url).not.toBe(gets[0]?.url);
    const done = (await artifactsOf(t, 'cdn/expiry')).get('weights.bin');
    expect(await sha256File(done.local_path)).toBe((await hub.fileInfo('cdn/expiry', 'weights.bin')).sha256);
  });
});
