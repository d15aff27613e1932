import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import { dataSnapshot, rawRequest } from '../support/hostile-requests.js';
import { MANY, type MirrorFixture, startMirrorFixture, TINY } from '../support/mirror-fixture.js';

/**
 * Hostile input at the Hugging Face–compatible routes, sent over a real socket exactly as written
 * (no client normalizes `..` away): every case is a 4xx in the hub's error shape, never a 5xx or
 * a file from outside the store; afterwards the data is as it was.
 */
let f: MirrorFixture;
let before: Awaited<ReturnType<typeof dataSnapshot>>;

beforeAll(async () => {
  // Open, so every case reaches the route (access control has its own tests).
  f = await startMirrorFixture({ AUTH: 'off' });
  before = await dataSnapshot(f.t);
});

afterAll(async () => {
  await f?.close();
});

interface Case {
  label: string;
  method?: 'GET' | 'HEAD' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
  /** Refused by Fastify before any route (a URL it cannot decode, a too long parameter): the API's shape. */
  frameworkShape?: boolean;
}

const LONG = 'x'.repeat(5000);
const json = { 'content-type': 'application/json' };
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const pathsInfo = `/api/models/${TINY}/paths-info/main`;
const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const CASES: Case[] = [
  { label: 'raw ../ traversal', url: `/${TINY}/resolve/main/../../../../etc/passwd`, status: 400 },
  { label: 'encoded ../ traversal', url: `/${TINY}/resolve/main/..%2F..%2F..%2Fetc%2Fpasswd`, status: 400 },
  { label: 'encoded dots', url: `/${TINY}/resolve/main/%2e%2e/%2e%2e/etc/passwd`, status: 400 },
  { label: 'absolute path', url: `/${TINY}/resolve/main/%2Fetc%2Fpasswd`, status: 400 },
  { label: 'backslash', url: `/${TINY}/resolve/main/..%5C..%5Cwin.ini`, status: 400 },
  { label: 'empty segment', url: `/${TINY}/resolve/main/nested//extra.json`, status: 400 },
  { label: 'empty path', url: `/${TINY}/resolve/main/`, status: 400 },
  { label: 'NUL in path', url: `/${TINY}/resolve/main/config%00.json`, status: 400 },
  { label: 'control character in path', url: `/${TINY}/resolve/main/a%1Bb`, status: 400 },
  { label: 'DEL in path', url: `/${TINY}/resolve/main/a%7Fb`, status: 400 },
  { label: 'segment over 255 bytes', url: `/${TINY}/resolve/main/${LONG}`, status: 400 },
  { label: 'bad percent-encoding', url: `/${TINY}/resolve/main/%zz`, status: 400, frameworkShape: true },
  { label: 'NUL in revision', url: `/${TINY}/resolve/ma%00in/config.json`, status: 400 },
  { label: 'huge revision', url: `/${TINY}/resolve/${LONG}/config.json`, status: 404 },
  { label: 'repo id with --', url: '/a--b/c/resolve/main/config.json', status: 400 },
  { label: 'repo id starting with -', url: '/-a/b/resolve/main/config.json', status: 400 },
  { label: 'repo id with ..', url: '/api/models/a/b..c', status: 400 },
  {
    label: 'repo part too long',
    url: `/api/models/org/${'n'.repeat(200)}`,
    status: 414,
    frameworkShape: true,
  },
  { label: 'repo part over 96 characters', url: `/api/models/org/${'n'.repeat(97)}`, status: 400 },
  { label: 'encoded slash in repo id', url: '/api/models/o%2Fx/name', status: 400 },
  { label: 'HEAD traversal', method: 'HEAD', url: `/${TINY}/resolve/main/..%2Fconfig.json`, status: 400 },
  {
    label: 'range past the end',
    url: `/${TINY}/resolve/main/config.json`,
    headers: { range: 'bytes=99999999999999999999999-' },
    status: 416,
  },
  {
    label: 'range of 10 000 digits',
    url: `/${TINY}/resolve/main/config.json`,
    headers: { range: `bytes=${'9'.repeat(10_000)}-` },
    status: 416,
  },
  { label: 'tree traversal', url: `/api/models/${TINY}/tree/main/..`, status: 400 },
  { label: 'tree control character', url: `/api/models/${TINY}/tree/main/a%0Ab`, status: 400 },
  { label: 'cursor not base64 JSON', url: `/api/models/${MANY}/tree/main?cursor=%ZZ`, status: 400 },
  { label: 'cursor with NUL', url: `/api/models/${MANY}/tree/main?cursor=%00`, status: 400 },
  {
    label: 'cursor of negative offset',
    url: `/api/models/${MANY}/tree/main?cursor=${cursor({ offset: -1 })}`,
    status: 400,
  },
  {
    label: 'cursor of huge offset',
    url: `/api/models/${MANY}/tree/main?cursor=${cursor({ offset: 1e308 })}`,
    status: 400,
  },
  {
    label: 'cursor of nested arrays',
    url: `/api/models/${MANY}/tree/main?cursor=${cursor(JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`))}`,
    status: 400,
  },
  {
    label: 'Host that is no host name',
    url: `/api/models/${MANY}/tree/main?recursive=true`,
    headers: { host: 'evil.example/<script>' },
    status: 400,
  },
  {
    label: 'paths-info: malformed JSON',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: '{"paths": [',
    status: 400,
  },
  {
    label: 'paths-info: paths not a list',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: '{"paths": {"a": 1}}',
    status: 400,
  },
  {
    label: 'paths-info: 20 001 paths',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: JSON.stringify({ paths: Array.from({ length: 20_001 }, (_, i) => `p${i}`) }),
    status: 400,
  },
  {
    label: 'paths-info: traversal',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: '{"paths": ["../../etc/passwd"]}',
    status: 400,
  },
  {
    label: 'paths-info: NUL',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: '{"paths": ["a\\u0000b"]}',
    status: 400,
  },
  {
    label: 'paths-info: lone surrogate',
    method: 'POST',
    url: pathsInfo,
    headers: json,
    body: '{"paths": ["\\ud800"]}',
    status: 200,
  },
  {
    label: 'paths-info: form with NUL',
    method: 'POST',
    url: pathsInfo,
    headers: form,
    body: 'paths=a%00b',
    status: 400,
  },
  {
    label: 'paths-info: form traversal',
    method: 'POST',
    url: pathsInfo,
    headers: form,
    body: 'paths=..%2Fx',
    status: 400,
  },
  {
    label: 'paths-info: text body',
    method: 'POST',
    url: pathsInfo,
    headers: { 'content-type': 'text/plain' },
    body: 'paths',
    status: 415,
  },
  {
    label: 'paths-info: body over the limit',
    method: 'POST',
    url: pathsInfo,
    headers: form,
    body: `paths=${'a'.repeat(1_100_000)}`,
    status: 413,
  },
];

function send(c: Case): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    host: new URL(f.base).host,
    connection: 'close',
    ...c.headers,
    ...(c.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(c.body)) }),
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return rawRequest(f.base, `${c.method ?? 'GET'} ${c.url} HTTP/1.1\r\n${head}\r\n${c.body ?? ''}`);
}

describe(`hostile input at the HF routes (${BACKEND})`, () => {
  it('refuses each case with a 4xx in the hub’s error shape, echoing no more than 100 characters', async () => {
    const failures: string[] = [];
    for (const c of CASES) {
      const answer = await send(c);
      const problems: string[] = [];
      if (answer.status !== c.status) problems.push(`status ${answer.status}, expected ${c.status}`);
      if (c.status >= 400 && c.method !== 'HEAD') {
        let body: any;
        try {
          body = JSON.parse(answer.body);
        } catch {
          problems.push(`body is not JSON: ${answer.body.slice(0, 80)}`);
        }
        const message = c.frameworkShape ? body?.error?.message : body?.error;
        if (typeof message !== 'string' || message.length === 0)
          problems.push(`no error message: ${answer.body.slice(0, 120)}`);
        if (!c.frameworkShape && typeof answer.headers['x-error-message'] !== 'string')
          problems.push('no X-Error-Message');
        if (answer.body.length > 400)
          problems.push(`answer of ${answer.body.length} characters echoes the input`);
      }
      if (/\bat .*\.(ts|js):\d+/.test(answer.body)) problems.push('answer holds a stack trace');
      if (answer.body.includes('root:')) problems.push('answer holds /etc/passwd');
      if (problems.length > 0) failures.push(`${c.label}: ${problems.join(', ')}`);
    }
    expect(failures).toEqual([]);
  });

  it('still answers, and the database and the store are as they were', async () => {
    expect((await fetch(`${f.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${f.base}/${TINY}/resolve/main/config.json`)).status).toBe(200);
    const after = await dataSnapshot(f.t);
    expect(after.models).toEqual(before.models);
    expect(after.artifacts).toEqual(before.artifacts);
    expect(after.files).toEqual(before.files);
  });
});
