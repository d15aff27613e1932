import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { readEvents } from '../support/sse-client.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Upstream retries made for a job are visible to whoever watches it: each one is a line in the job's
 * log and a `job.progress` event with `retry`. The hub is reached through a TCP relay this test can
 * close (a refused connection, as from a hub that is down) and open again on the same port.
 */
const REPO = 'retry/flaky';
let hub: FakeHub;
let relay: Relay;
let t: TestApp;
let base: string;

/** A TCP relay to the fake hub on a fixed port: closed, connections to it are refused. */
interface Relay {
  url: string;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function startRelay(target: URL): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const next = net.createServer((client) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => {
        port = (next.address() as net.AddressInfo).port;
        server = next;
        resolve();
      });
    });
  await open();
  return {
    url: `http://127.0.0.1:${port}`,
    open,
    // Kept-alive connections go too: the next request has to connect, and is refused.
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        if (server) server.close(() => resolve());
        else resolve();
        server = undefined;
      }),
  };
}

beforeAll(async () => {
  hub = await startFakeHub();
  await hub.addRepo({
    id: REPO,
    files: [
      { path: 'config.json', content: '{"model_type": "flaky"}\n' },
      { path: 'README.md', content: '# Flaky\n' },
    ],
  });
  relay = await startRelay(new URL(hub.url));
  // Waits of 50 ms to 800 ms: the relay opens again long before the five retries run out.
  t = await startTestApp(relay.url, { UPSTREAM_RETRY_BASE_MS: '100', UPSTREAM_MAX_RETRIES: '5' });
  base = await t.listen();
});

afterAll(async () => {
  await t?.close();
  await relay?.close();
  await hub?.close();
});

describe('upstream retries of a job', () => {
  it('are written in its log and sent as job.progress events with retry, as they happen', async () => {
    const registered = await t.request('POST', '/v1/hub/register', {
      vendor: 'Retry',
      name: 'Flaky',
      source_repo_id: REPO,
    });
    expect(registered.status).toBe(201);
    await relay.close();
    // Then the metadata file's first GET answers 503: the transfer engine's retry is told the same way.
    hub.addFault({ filePath: 'config.json', status: 503, times: 1 });

    let jobId: string | undefined;
    let reopened: Promise<void> | undefined;
    const stream = await readEvents(`${base}/v1/hub/events`, {
      onOpen: async () => {
        const sync = await t.request('POST', '/v1/hub/sync', { repo_id: REPO });
        jobId = sync.body.job_id;
      },
      done: (c) => {
        // The hub comes back once the first retry was announced.
        if (!reopened && c.messages.some((m) => m.data?.data?.retry)) reopened = relay.open();
        return c.messages.some(
          (m) => m.data?.job_id === jobId && (m.event === 'job.completed' || m.event === 'job.failed'),
        );
      },
      timeoutMs: 20_000,
    });
    await reopened;

    const job = await t.waitForJob(jobId as string);
    expect(job.status).toBe('completed');
    const lines: string[] = job.logs.map((line: string) => line.replace(/^\S+ /, ''));
    const retryLines = lines.filter((line) => line.includes(', retry '));
    expect(retryLines[0]).toMatch(
      /^upstream unreachable \(ECONNREFUSED\), retry 1\/5 in \d+ ms \(model info for retry\/flaky@main\)$/,
    );
    expect(retryLines.at(-1)).toMatch(
      /^upstream answered 503, retry 1\/5 in \d+ ms \(config\.json( from byte 0)?\)$/,
    );
    // The retry lines come before the work they retried finished.
    expect(lines.findIndex((l) => l.startsWith('Resolved retry/flaky@main'))).toBeGreaterThan(
      lines.indexOf(retryLines[0] as string),
    );

    const retries = stream.messages
      .filter((m) => m.event === 'job.progress' && m.data.job_id === jobId && m.data.data.retry)
      .map((m) => ({ id: m.id, status: m.data.data.status, ...m.data.data.retry }));
    // Every retry in the log was on the stream, in the same words, with its numbers.
    expect(retries.map((r) => r.message)).toEqual(retryLines);
    expect(retries[0]).toEqual({
      id: undefined,
      status: 'running',
      message: retryLines[0],
      attempt: 1,
      max_retries: 5,
      delay_ms: expect.any(Number),
    });
    for (const retry of retries) {
      expect(retry.delay_ms).toBeGreaterThanOrEqual(0);
      expect(retryLines[retries.indexOf(retry)]).toContain(
        `retry ${retry.attempt}/5 in ${retry.delay_ms} ms`,
      );
    }
    expect(retries.at(-1)).toMatchObject({ attempt: 1, max_retries: 5 });
  }, 30_000);
});
