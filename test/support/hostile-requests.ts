import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import type { TestApp } from './test-app.js';

/** What a refused request must look like, whatever it was: a 4xx in the one error shape. */
export function refusalProblems(
  answer: { status: number; body: string; headers: Record<string, unknown> },
  echoProbe?: string,
): string[] {
  const problems: string[] = [];
  if (answer.status < 400 || answer.status > 499) problems.push(`status ${answer.status}`);
  let body: any;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return [...problems, `body is not JSON: ${answer.body.slice(0, 80)}`];
  }
  const error = body?.error;
  if (typeof error?.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(error.code)) {
    problems.push(`error.code ${JSON.stringify(error?.code)}`);
  }
  if (typeof error?.message !== 'string' || error.message.length === 0)
    problems.push('error.message missing');
  else if (error.message.length > 500) problems.push(`error.message is ${error.message.length} characters`);
  if (typeof error?.request_id !== 'string' || !/^[0-9a-f-]{36}$/.test(error.request_id)) {
    problems.push(`error.request_id ${JSON.stringify(error?.request_id)}`);
  }
  if (answer.headers['x-request-id'] !== undefined && answer.headers['x-request-id'] !== error?.request_id) {
    problems.push('x-request-id header differs from error.request_id');
  }
  if (/\bat .*\.(ts|js):\d+/.test(answer.body)) problems.push('answer holds a stack trace');
  if (echoProbe !== undefined && answer.body.includes(echoProbe.slice(0, 101))) {
    problems.push('answer echoes more than 100 characters of the input');
  }
  return problems;
}

/** A control character is refused before anything else looks at the value, naming its field. */
export function controlRefusalProblems(answer: { status: number; body: string }, field: string): string[] {
  let error: any;
  try {
    error = JSON.parse(answer.body).error;
  } catch {
    return [];
  }
  const problems: string[] = [];
  if (answer.status !== 400 || error?.code !== 'VALIDATION_FAILED') {
    problems.push(`control character answered ${answer.status} ${error?.code}, not 400 VALIDATION_FAILED`);
  }
  if (typeof error?.message !== 'string' || !error.message.startsWith(`${field} must not contain control`)) {
    problems.push(`message does not name ${field}: ${String(error?.message).slice(0, 120)}`);
  }
  return problems;
}

/**
 * Sends raw bytes over a real socket (what `inject` cannot: Node's own parser limits) and reads
 * the answer until the server closes, with a deadline.
 */
export function rawRequest(
  baseUrl: string,
  bytes: string,
  timeoutMs = 5000,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => {
          const at = line.indexOf(':');
          return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
        }),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), body: rest.join('\r\n\r\n'), headers });
    };
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', finish);
    // The server may close while we still send an oversized request; its answer is what counts.
    socket.on('error', () => {});
    socket.write(bytes, 'utf8');
  });
}

/** An `inject` request as the bytes a client would send (JSON body, path exactly as given). */
export function asRawRequest(request: InjectOptions): string {
  const payload = request.payload;
  const body = payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {
    host: '127.0.0.1',
    connection: 'close',
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    ...(request.headers as Record<string, string> | undefined),
    ...(payload === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `${request.method ?? 'GET'} ${String(request.url)} HTTP/1.1\r\n${head}\r\n${body}`;
}

/** Everything the hostile requests could destroy: rows seen through the API, and the store's files. */
export async function dataSnapshot(t: TestApp) {
  const models = (await t.request('GET', '/v1/hub/models')).body.items;
  const artifacts: unknown[] = [];
  for (const model of models) {
    artifacts.push(...(await t.request('GET', `/v1/hub/models/${model.id}/artifacts`)).body.items);
  }
  const webhooks = (await t.request('GET', '/v1/hub/webhooks')).body.items;
  const jobs: string[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await t.request('GET', `/v1/hub/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    jobs.push(...page.body.items.map((j: any) => `${j.id} ${j.type} ${j.status}`));
    cursor = page.body.next_cursor;
  } while (cursor);
  return { models, artifacts, webhooks, jobs, files: await storeFiles(t.storePath) };
}

/** `relative/path size` for every file of the store but the embedded database's own files. */
async function storeFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || /\.sqlite(-wal|-shm|-journal)?$/.test(entry.name)) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.push(`${path.relative(root, full)} ${(await fs.stat(full)).size}`);
  }
  return files.sort();
}
