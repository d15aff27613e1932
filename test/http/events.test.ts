import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { MiB } from '../support/download-helpers.js';
import { readEvents, type SseCapture, type SseMessage } from '../support/sse-client.js';
import { registerAndSync, startTestApp, type TestApp } from '../support/test-app.js';

let hub: FakeHub;
let t: TestApp;
let base: string;

beforeAll(async () => {
  // A throttled CDN makes the 6 MiB download take about a second and a half, so progress shows.
  hub = await startFakeHub({ throttleBytesPerSecond: 4 * MiB });
  t = await startTestApp(hub.url, {
    HF_TOKEN: hub.token,
    METADATA_MAX_BYTES: '100000',
    PROGRESS_INTERVAL_MS: '100',
    SSE_HEARTBEAT_MS: '200',
    DOWNLOAD_PARALLEL_THRESHOLD_BYTES: String(64 * MiB),
  });
  base = await t.listen();
  await hub.addRepo({
    id: 'org/streamed',
    files: [
      { path: 'config.json', content: '{"hidden_size":8}\n' },
      { path: 'tokenizer.json', content: '{"model":{}}\n' },
      { path: 'model.safetensors', content: { size: 6 * MiB, seed: 'streamed-weights' } },
      { path: 'extra.bin', content: { size: MiB, seed: 'streamed-extra' } },
    ],
  });
});
afterAll(async () => {
  await t?.close();
  await hub?.close();
});

const durable = (capture: SseCapture) => capture.messages.filter((m) => m.id !== undefined);
const types = (messages: SseMessage[]) => messages.map((m) => m.event);
const endsJob = (jobId: string) => (capture: SseCapture) =>
  capture.messages.some(
    (m) => (m.event === 'job.completed' || m.event === 'job.failed') && m.data.job_id === jobId,
  );

function expectIncreasingIds(messages: SseMessage[]) {
  const ids = messages.map((m) => Number(m.id));
  for (const [i, id] of ids.entries()) {
    expect(Number.isInteger(id)).toBe(true);
    if (i > 0) expect(id).toBeGreaterThan(ids[i - 1] as number);
  }
}

describe('event streams', () => {
  let syncJobId: string;
  let modelId: string;

  it("replays a finished sync's events in order on its job stream", async () => {
    const { job, model } = await registerAndSync(t, 'org/streamed', 'Org', 'Streamed');
    syncJobId = job.id;
    modelId = model.id;
    expect(job.status).toBe('completed');

    const capture = await readEvents(`${base}/v1/hub/jobs/${job.id}/events`, { done: endsJob(job.id) });
    expect(capture.status).toBe(200);
    expect(capture.headers.get('content-type')).toContain('text/event-stream');
    const events = durable(capture);
    expectIncreasingIds(events);
    // The two small metadata files complete in either order, between creation and the sync's end.
    expect(types(events)).toEqual([
      'job.created',
      'artifact.completed',
      'artifact.completed',
      'model.synced',
      'job.completed',
    ]);
    for (const m of events) {
      expect(m.data).toMatchObject({ id: Number(m.id), type: m.event, job_id: job.id });
      expect(Date.parse(m.data.at)).not.toBeNaN();
    }
    expect(events[0]?.data.data).toEqual({ type: 'sync', status: 'pending' });
    expect(new Set(events.slice(1, 3).map((m) => m.data.data.path))).toEqual(
      new Set(['config.json', 'tokenizer.json']),
    );
    expect(events[1]?.data).toMatchObject({ model_id: model.id, data: { source: 'downloaded' } });
    expect(events[1]?.data.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(events[3]?.data).toMatchObject({
      model_id: model.id,
      data: { repo_id: 'org/streamed', files: 4, created: 4, changed: 0, removed: 0 },
    });
    expect(events[3]?.data.data.commit).toBe(job.result.commit);
    expect(events[4]?.data.data).toMatchObject({ type: 'sync', result: { files: 4, created: 4 } });
  });

  it('resumes after Last-Event-ID (header or query) with exactly the events after it', async () => {
    const all = durable(
      await readEvents(`${base}/v1/hub/jobs/${syncJobId}/events`, { done: endsJob(syncJobId) }),
    );
    const after = all[1]?.id as string;
    const expected = all.slice(2).map((m) => m.id);

    const byHeader = await readEvents(`${base}/v1/hub/jobs/${syncJobId}/events`, {
      headers: { 'last-event-id': after },
      done: endsJob(syncJobId),
    });
    expect(durable(byHeader).map((m) => m.id)).toEqual(expected);

    const byQuery = await readEvents(`${base}/v1/hub/jobs/${syncJobId}/events?last_event_id=${after}`, {
      done: endsJob(syncJobId),
    });
    expect(durable(byQuery).map((m) => m.id)).toEqual(expected);

    // The global stream resumes too, across every job's events.
    const global = await readEvents(`${base}/v1/hub/events`, {
      headers: { 'last-event-id': after },
      done: endsJob(syncJobId),
    });
    expect(durable(global).map((m) => m.id)).toEqual(expected);
  });

  it('streams a download live: created, progress with no id, one completion per file, then the end', async () => {
    const artifacts = await t.request('GET', `/v1/hub/models/${modelId}/artifacts`);
    const wanted = artifacts.body.items.filter(
      (a: any) => a.path.endsWith('.safetensors') || a.path.endsWith('.bin'),
    );
    let jobId = '';
    // Meanwhile the job and artifact rows show the progress too (written at the same bounded rate).
    const seenRunning: any[] = [];
    const seenArtifactBytes: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        if (jobId) {
          const job = (await t.request('GET', `/v1/hub/jobs/${jobId}`)).body;
          if (job.status === 'running') seenRunning.push(job.progress);
          const rows = (await t.request('GET', `/v1/hub/models/${modelId}/artifacts`)).body.items;
          const weights = rows.find((a: any) => a.path === 'model.safetensors');
          if (weights.download_status === 'downloading') seenArtifactBytes.push(weights.bytes_downloaded);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const capture = await readEvents(`${base}/v1/hub/events`, {
      // Subscribed before the job exists, so every live event of it arrives.
      onOpen: async () => {
        const queued = await t.request('POST', '/v1/hub/download', {
          repo_id: 'org/streamed',
          include: ['*.safetensors', '*.bin'],
        });
        expect(queued.status).toBe(202);
        jobId = queued.body.job_id;
      },
      done: (c) => jobId !== '' && endsJob(jobId)(c),
    });
    const ofJob = capture.messages.filter((m) => m.data.job_id === jobId);
    const stored = ofJob.filter((m) => m.id !== undefined);
    expectIncreasingIds(stored);
    expect(types(stored)).toEqual([
      'job.created',
      'artifact.completed',
      'artifact.completed',
      'job.completed',
    ]);
    expect(new Set(stored.slice(1, 3).map((m) => m.data.artifact_id))).toEqual(
      new Set(wanted.map((a: any) => a.id)),
    );

    const progress = ofJob.filter((m) => m.event === 'job.progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const bytesTotal = 7 * MiB;
    let previous = 0;
    for (const p of progress) {
      expect(p.id).toBeUndefined();
      expect(p.data.id).toBeNull();
      expect(p.data.data).toMatchObject({ status: 'running', files_total: 2, bytes_total: bytesTotal });
      expect(p.data.data.bytes_done).toBeGreaterThanOrEqual(previous);
      expect(p.data.data.bytes_done).toBeLessThanOrEqual(bytesTotal);
      previous = p.data.data.bytes_done;
    }
    const moving = progress.find((p) => p.data.data.bytes_done > 0 && p.data.data.bytes_done < bytesTotal);
    expect(moving?.data.data.bytes_per_second).toBeGreaterThan(0);
    expect(moving?.data.data.eta_seconds).toBeGreaterThan(0);
    expect(moving?.data.data.current_files.map((f: any) => f.path)).toContain('model.safetensors');
    // Progress events come after the job was created and before it ended.
    const order = ofJob.map((m) => m.event);
    expect(order.indexOf('job.progress')).toBeGreaterThan(order.indexOf('job.created'));
    expect(order.lastIndexOf('job.progress')).toBeLessThan(order.indexOf('job.completed'));

    polling = false;
    await poller;
    expect(
      seenRunning.some((p) => p.bytes_done > 0 && p.bytes_done < bytesTotal && p.files_total === 2),
    ).toBe(true);
    expect(seenArtifactBytes.some((bytes) => bytes > 0 && bytes < 6 * MiB)).toBe(true);

    const job = await t.waitForJob(jobId);
    expect(job.progress).toMatchObject({
      files_total: 2,
      files_done: 2,
      files_failed: 0,
      bytes_total: bytesTotal,
      bytes_done: bytesTotal,
      eta_seconds: 0,
      current_files: [],
    });
    expect(job.logs.every((line: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S/.test(line))).toBe(
      true,
    );
  });

  it('sends heartbeat comments on an idle stream', async () => {
    const capture = await readEvents(`${base}/v1/hub/events`, {
      done: (c) => c.comments.filter((line) => line === 'heartbeat').length >= 2,
      timeoutMs: 5000,
    });
    expect(capture.comments.filter((line) => line === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(capture.messages).toEqual([]);
  });

  it('answers an unknown job with 404 and a bad Last-Event-ID with 400, as JSON', async () => {
    const unknown = await readEvents(`${base}/v1/hub/jobs/00000000-0000-4000-8000-000000000000/events`, {
      done: () => true,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('JOB_NOT_FOUND');

    const badHeader = await readEvents(`${base}/v1/hub/events`, {
      headers: { 'last-event-id': 'abc' },
      done: () => true,
    });
    expect(badHeader.status).toBe(400);
    expect(badHeader.body.error.message).toContain('Last-Event-ID');

    const badQuery = await readEvents(`${base}/v1/hub/events?last_event_id=-1`, { done: () => true });
    expect(badQuery.status).toBe(400);
  });
});
