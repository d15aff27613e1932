import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubApiError, ModelHubClient } from '../../src/client/api-client.js';
import { createLineDisplay, createQuietDisplay } from '../../src/client/progress-display.js';
import { watchJob } from '../../src/client/watch-job.js';
import type { HubEvent, JobWire } from '../../src/client/wire.js';
import {
  artifactCompleted,
  downloadResult,
  JOB_ID,
  jobCompleted,
  jobCreated,
  jobFailed,
  jobRow,
  progress,
  resetIds,
} from './event-fixtures.js';

/**
 * `watchJob` against a small scripted hub: the job row, and an SSE stream whose every connection is
 * answered by the test (so it can drop one and check what the client resumes from).
 */
type StreamScript = (res: ServerResponse, req: IncomingMessage, connection: number) => void;

let server: Server;
let baseUrl: URL;
let job: JobWire;
let script: StreamScript;
let connections: IncomingMessage[];

const sse = (res: ServerResponse, event: HubEvent) =>
  res.write(
    `${event.id === null ? '' : `id: ${event.id}\n`}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
  );
/** Cuts the connection once everything written so far has reached the socket. */
const drop = (res: ServerResponse) => res.write('', () => res.destroy());
const openStream = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // Reconnect after 20 ms instead of the default 3 s.
  res.write('retry: 20\n\n');
};

beforeEach(async () => {
  resetIds();
  connections = [];
  job = jobRow();
  server = createServer((req, res) => {
    const path = req.url ?? '';
    if (path === `/v1/hub/jobs/${JOB_ID}/events`) {
      connections.push(req);
      script(res, req, connections.length);
    } else if (path === `/v1/hub/jobs/${JOB_ID}`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: { code: 'JOB_NOT_FOUND', message: `Job ${path.split('/').pop()} not found` },
        }),
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function lines() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, write: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

function watchWithLines(extra: Partial<Parameters<typeof watchJob>[0]> = {}) {
  const output = lines();
  const run = watchJob({
    client: new ModelHubClient(baseUrl),
    jobId: JOB_ID,
    display: createLineDisplay(output.write),
    json: false,
    ...output.write,
    ...extra,
  });
  return { run, ...output };
}

describe('watchJob', () => {
  it('resumes a dropped stream with Last-Event-ID and counts nothing twice', async () => {
    const created = jobCreated();
    const first = artifactCompleted(1, 'a1', 'config.json', 2048);
    const second = artifactCompleted(2, 'a2', 'model.safetensors', 4096);
    const done = jobCompleted(3, downloadResult({ downloaded: 2, bytes_downloaded: 6144 }));
    script = (res, _req, connection) => {
      openStream(res);
      if (connection === 1) {
        sse(res, created);
        sse(res, first);
        sse(res, progress(1.5, { files_total: 2, files_done: 1, bytes_total: 6144, bytes_done: 2048 }));
        drop(res);
      } else {
        // A hub that ignores Last-Event-ID and replays from the start: the client must not count twice.
        sse(res, first);
        sse(res, second);
        sse(res, done);
      }
    };
    const { run, out, err } = watchWithLines();
    expect(await run).toBe(0);
    expect(connections.map((c) => c.headers['last-event-id'])).toEqual([undefined, String(first.id)]);
    expect(out).toEqual([
      'done    config.json (2.0 KiB, downloaded)',
      'progress 33% 2.0 KiB of 6.0 KiB, 1 of 2 files',
      'done    model.safetensors (4.0 KiB, downloaded)',
      'Download job completed in 3.0 s: 2 files, 6.0 KiB (2 downloaded, 0 deduplicated, 0 already present)',
    ]);
    expect(err).toEqual([
      expect.stringMatching(/^lost the event stream \(.+\); reconnecting…$/),
      `reconnected to ${baseUrl.origin}`,
    ]);
  });

  it('exits 1 with the job error when the job fails', async () => {
    script = (res) => {
      openStream(res);
      sse(res, jobCreated('sync'));
      sse(res, jobFailed(0.2, 'Access to model gated/model is restricted (UPSTREAM_GATED)', null, 'sync'));
    };
    const { run, out, err } = watchWithLines();
    expect(await run).toBe(1);
    expect(out).toEqual(['Sync job failed after 0.2 s']);
    expect(err).toEqual(['error: Access to model gated/model is restricted (UPSTREAM_GATED)']);
  });

  it('prints every event as one JSON line with --json', async () => {
    const events = [
      jobCreated(),
      artifactCompleted(1, 'a1', 'x.json', 10),
      jobCompleted(2, downloadResult({})),
    ];
    script = (res) => {
      openStream(res);
      for (const event of events) sse(res, event);
    };
    const output = lines();
    const code = await watchJob({
      client: new ModelHubClient(baseUrl),
      jobId: JOB_ID,
      display: createQuietDisplay(output.write.err),
      json: true,
      ...output.write,
    });
    expect(code).toBe(0);
    expect(output.out.map((line) => JSON.parse(line))).toEqual(events);
    expect(output.err).toEqual([]);
  });

  it('ends a job that finished before the watch from its row when the replay has no terminal event', async () => {
    job = jobRow({
      status: 'completed',
      finished_at: '2025-06-01T12:00:04.000Z',
      result: downloadResult({}),
    });
    script = (res) => openStream(res);
    const { run, out } = watchWithLines({ replayIdleMs: 50 });
    expect(await run).toBe(0);
    expect(out).toEqual([
      'Download job completed in 4.0 s: 0 files, 0 B (0 downloaded, 0 deduplicated, 0 already present)',
    ]);
  });

  it('gives up with exit 1 when the hub does not serve the event stream', async () => {
    script = (res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
    const { run, err } = watchWithLines();
    expect(await run).toBe(1);
    expect(err).toEqual([
      `error: cannot follow job ${JOB_ID}: GET /v1/hub/jobs/${JOB_ID}/events failed: Non-200 status code (404)`,
    ]);
  });

  it('gives up when a dropped stream does not come back in time', async () => {
    script = (res, _req, connection) => {
      if (connection > 1) return void res.destroy();
      openStream(res);
      sse(res, jobCreated());
      drop(res);
    };
    const { run, err } = watchWithLines({ reconnectTimeoutMs: 200 });
    expect(await run).toBe(1);
    expect(err.at(-1)).toBe(
      `error: lost the connection to the model hub at ${baseUrl.origin} and could not reconnect within 0.2 s`,
    );
    expect(connections.length).toBeGreaterThan(1);
  });

  it('rejects with the API error for an unknown job', async () => {
    const output = lines();
    const run = watchJob({
      client: new ModelHubClient(baseUrl),
      jobId: '00000000-0000-4000-8000-000000000000',
      display: createLineDisplay(output.write),
      json: false,
      ...output.write,
    });
    await expect(run).rejects.toBeInstanceOf(HubApiError);
    await expect(run).rejects.toMatchObject({
      status: 404,
      code: 'JOB_NOT_FOUND',
      message: 'Job 00000000-0000-4000-8000-000000000000 not found',
    });
  });
});
