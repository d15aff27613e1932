import { createHash } from 'node:crypto';
import { type FakeFileSpec, type FakeHub, type FakeHubOptions, startFakeHub } from '../fake-hub/fake-hub.js';
import { registerAndSync, startTestApp, type TestApp } from './test-app.js';

/**
 * A hub serving Hugging Face clients, on a real socket, next to the fake upstream it mirrors:
 * - `TINY` synced and fully downloaded: small git files, a nested directory, an empty file and
 *   LFS weights (one of them bigger than a read chunk);
 * - `MANY` synced, nothing downloaded: more files than a `/tree` page (1000).
 */
export const TINY = 'org/tiny';
export const MANY = 'org/many';
export const MANY_FILES = 1100;

export const TINY_FILES: FakeFileSpec[] = [
  { path: 'config.json', content: '{"model_type":"bert","hidden_size":8}' },
  { path: 'tokenizer.json', content: '{"version":"1.0","vocab":{"a":0,"b":1}}' },
  { path: 'README.md', content: '# tiny\nA test model.\n' },
  { path: 'empty.txt', content: '' },
  { path: 'nested/deeper/notes.txt', content: 'nested notes\n' },
  { path: 'nested/extra.json', content: '{"x":1}' },
  { path: 'model.safetensors', content: { size: 3 * 1024 * 1024 + 17, seed: 'mirror-tiny-weights' } },
  { path: 'onnx/model.onnx', content: { size: 4096, seed: 'mirror-tiny-onnx' } },
];

export interface MirrorFixture {
  hub: FakeHub;
  t: TestApp;
  /** The hub's base URL, as HF clients are pointed at it. */
  base: string;
  commit: { tiny: string; many: string };
  close(): Promise<void>;
}

export async function startMirrorFixture(
  env: Record<string, string> = {},
  hubOptions: FakeHubOptions = {},
): Promise<MirrorFixture> {
  const hub = await startFakeHub(hubOptions);
  const tiny = await hub.addRepo({ id: TINY, files: TINY_FILES });
  const many = await hub.addRepo({
    id: MANY,
    files: Array.from({ length: MANY_FILES }, (_, i) => ({
      path: `shards/part-${String(i).padStart(4, '0')}.safetensors`,
      content: `shard ${i}`,
    })),
  });
  const t = await startTestApp(hub.url, env);
  const base = await t.listen();
  await registerAndSync(t, TINY, 'Org', 'Tiny');
  const download = await t.request('POST', '/v1/hub/download', { repo_id: TINY });
  const job = await t.waitForJob(download.body.job_id);
  if (job.status !== 'completed') throw new Error(`download failed: ${JSON.stringify(job)}`);
  await registerAndSync(t, MANY, 'Org', 'Many');
  return {
    hub,
    t,
    base,
    commit: { tiny: tiny.commit, many: many.commit },
    async close() {
      await t.close();
      await hub.close();
    },
  };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The HF error answer: status, `X-Error-Code`, `X-Error-Message` and `{"error": message}`. */
export async function hfError(response: Response): Promise<{
  status: number;
  code: string | null;
  message: string | null;
  body: unknown;
}> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: the assertion on `body` shows it.
  }
  return {
    status: response.status,
    code: response.headers.get('x-error-code'),
    message: response.headers.get('x-error-message'),
    body,
  };
}

export interface Pulled {
  status: number;
  headers: Headers;
  bytes: number;
  sha256: string;
  startedAt: number;
  firstChunkAt: number | undefined;
  error: unknown;
}

/**
 * One client reading a resolve to its end, or until the connection breaks (`error`), with the
 * time its first chunk arrived.
 */
export async function pull(url: string, init: RequestInit = {}): Promise<Pulled> {
  const startedAt = Date.now();
  const response = await fetch(url, init);
  const hash = createHash('sha256');
  let bytes = 0;
  let firstChunkAt: number | undefined;
  let error: unknown;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      firstChunkAt ??= Date.now();
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
  } catch (e) {
    error = e;
  }
  const { status, headers } = response;
  return { status, headers, bytes, sha256: hash.digest('hex'), startedAt, firstChunkAt, error };
}
