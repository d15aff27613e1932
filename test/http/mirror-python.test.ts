import fs from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import {
  MANY,
  type MirrorFixture,
  sha256,
  startMirrorFixture,
  TINY,
  TINY_FILES,
} from '../support/mirror-fixture.js';
import {
  ensurePythonClient,
  hfCli,
  PYTHON_CLIENT_VERSION,
  type PythonResult,
  runHfCli,
  runPython,
} from '../support/python-client.js';

/**
 * The official Python client (huggingface_hub, from local wheels) pointed at the hub with
 * HF_ENDPOINT: its cache holds what upstream would have given it, byte for byte, and it raises its
 * own exceptions for what the hub does not hold. hf_xet is installed with it and stays unused.
 */
const LATE = 'org/late';
const LATE_WEIGHTS = { path: 'weights.bin', content: { size: 1024 * 1024 + 3, seed: 'mirror-python-late' } };

let f: MirrorFixture;
let temp: string;
/** Every request line the hub received, read off its own HTTP server. */
const requests: string[] = [];

beforeAll(async () => {
  await ensurePythonClient();
  f = await startMirrorFixture();
  f.t.app.http.server.on('request', (request: IncomingMessage) => {
    requests.push(`${request.method} ${request.url}`);
  });
  temp = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-hf-python-'));
});

afterAll(async () => {
  await f?.close();
  if (temp) await fs.rm(temp, { recursive: true, force: true });
});

async function freshCache(name: string): Promise<string> {
  const dir = path.join(temp, name);
  await fs.mkdir(dir);
  return dir;
}

/** The last stdout line of a script that succeeded, as JSON. */
function json<T = any>(result: PythonResult): T {
  expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as T;
}

const DOWNLOAD = `
import json, os, sys
from huggingface_hub import hf_hub_download
repo = sys.argv[1]
print(json.dumps([hf_hub_download(repo, p) for p in sys.argv[2:]]))
`;

/** The exception each call raises: its class, its bases (the client's hierarchy) and its message. */
const RAISES = `
import json, sys
from huggingface_hub import HfApi, hf_hub_download
api = HfApi()
calls = {
  "model_info absent": lambda: api.model_info("org/absent"),
  "download absent": lambda: hf_hub_download("org/absent", "config.json"),
  "tree absent": lambda: list(api.list_repo_tree("org/absent", recursive=True)),
  "download bad revision": lambda: hf_hub_download("${TINY}", "config.json", revision="v9"),
  "model_info bad revision": lambda: api.model_info("${TINY}", revision="v9"),
  "download missing file": lambda: hf_hub_download("${TINY}", "no/such/file.bin"),
}
out = {}
for name, call in calls.items():
  try:
    call()
    out[name] = None
  except Exception as e:
    out[name] = {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "message": str(e)}
print(json.dumps(out))
`;

async function expectCacheEntry(
  cacheDir: string,
  repo: string,
  commit: string,
  file: string,
  pointer: string,
) {
  const upstream = await f.hub.fileInfo(repo, file);
  const repoFolder = path.join(cacheDir, `models--${repo.replace('/', '--')}`);
  expect(pointer).toBe(path.join(repoFolder, 'snapshots', commit, file));
  expect(await fs.readFile(path.join(repoFolder, 'refs', 'main'), 'utf8')).toBe(commit);
  const bytes = await fs.readFile(pointer);
  expect(bytes.length, file).toBe(upstream.size);
  expect(sha256(bytes), file).toBe(upstream.sha256);
  // The blob is named by the etag: the LFS sha256, else the git blob sha1.
  expect(await fs.realpath(pointer)).toBe(
    path.join(repoFolder, 'blobs', upstream.lfs ? upstream.sha256 : upstream.gitSha1),
  );
}

describe(`huggingface_hub ${PYTHON_CLIENT_VERSION} against the hub (${BACKEND})`, () => {
  it('hf_hub_download: a small file and an LFS file, in the HF cache layout under the synced commit', async () => {
    const cacheDir = await freshCache('single');
    const files = ['config.json', 'model.safetensors', 'nested/deeper/notes.txt'];
    const pointers = json<string[]>(
      await runPython(DOWNLOAD, { endpoint: f.base, cacheDir, args: [TINY, ...files] }),
    );
    for (const [i, file] of files.entries()) {
      await expectCacheEntry(cacheDir, TINY, f.commit.tiny, file, pointers[i] ?? '');
    }
  });

  it('snapshot_download: the whole repo, every file equal to upstream, under the synced commit', async () => {
    const cacheDir = await freshCache('snapshot');
    const folder = json<string>(
      await runPython(
        'import json; from huggingface_hub import snapshot_download; print(json.dumps(snapshot_download("org/tiny")))',
        { endpoint: f.base, cacheDir },
      ),
    );
    expect(path.basename(folder)).toBe(f.commit.tiny);
    for (const spec of TINY_FILES) {
      await expectCacheEntry(cacheDir, TINY, f.commit.tiny, spec.path, path.join(folder, spec.path));
    }
  });

  it('pull-through: a file not downloaded yet, and a repo the hub did not know, arrive correct', async () => {
    const cacheDir = await freshCache('pull-through');
    const shard = 'shards/part-0007.safetensors';
    const [shardPointer] = json<string[]>(
      await runPython(DOWNLOAD, { endpoint: f.base, cacheDir, args: [MANY, shard] }),
    );
    await expectCacheEntry(cacheDir, MANY, f.commit.many, shard, shardPointer ?? '');

    const { commit } = await f.hub.addRepo({ id: LATE, files: [LATE_WEIGHTS] });
    const [latePointer] = json<string[]>(
      await runPython(DOWNLOAD, { endpoint: f.base, cacheDir, args: [LATE, LATE_WEIGHTS.path] }),
    );
    await expectCacheEntry(cacheDir, LATE, commit, LATE_WEIGHTS.path, latePointer ?? '');
    expect(await fs.readFile(latePointer ?? '')).toEqual(await f.hub.expectedBytes(LATE, LATE_WEIGHTS.path));
  });

  it('HfApi: model_info and list_repo_tree(recursive=True) describe the synced commit', async () => {
    const out = json(
      await runPython(
        `
import json
from huggingface_hub import HfApi
api = HfApi()
info = api.model_info("${TINY}", files_metadata=True)
tree = [
  {"type": type(e).__name__, "path": e.path, "size": getattr(e, "size", None),
   "lfs": getattr(e, "lfs", None) and e.lfs.sha256}
  for e in api.list_repo_tree("${TINY}", recursive=True)
]
print(json.dumps({
  "id": info.id, "sha": info.sha, "private": info.private,
  "siblings": sorted([s.rfilename, s.size] for s in info.siblings),
  "tree": sorted(tree, key=lambda e: e["path"]),
}))
`,
        { endpoint: f.base, cacheDir: await freshCache('api') },
      ),
    );
    expect(out).toMatchObject({ id: TINY, sha: f.commit.tiny, private: false });
    const expected = await Promise.all(
      TINY_FILES.map(async (spec) => ({ spec, upstream: await f.hub.fileInfo(TINY, spec.path) })),
    );
    // Sizes come with files_metadata=True (the hub's ?blobs=true).
    expect(new Map(out.siblings)).toEqual(
      new Map(expected.map(({ spec, upstream }) => [spec.path, upstream.size])),
    );
    const files = out.tree.filter((e: { type: string }) => e.type === 'RepoFile');
    expect(files).toHaveLength(TINY_FILES.length);
    for (const { spec, upstream } of expected) {
      expect(files, spec.path).toContainEqual({
        type: 'RepoFile',
        path: spec.path,
        size: upstream.size,
        lfs: upstream.lfs ? upstream.sha256 : null,
      });
    }
    expect(
      out.tree.filter((e: { type: string }) => e.type === 'RepoFolder').map((e: { path: string }) => e.path),
    ).toEqual(expect.arrayContaining(['nested', 'nested/deeper', 'onnx']));
  });

  it('the client’s own exceptions: unknown repo, bad revision, missing file (recorded under .no_exist)', async () => {
    const cacheDir = await freshCache('raises');
    const out = json(await runPython(RAISES, { endpoint: f.base, cacheDir }));
    for (const name of ['model_info absent', 'download absent', 'tree absent']) {
      expect(out[name], name).toMatchObject({ type: 'RepositoryNotFoundError' });
    }
    for (const name of ['download bad revision', 'model_info bad revision']) {
      expect(out[name], name).toMatchObject({ type: 'RevisionNotFoundError' });
      expect(out[name].message, name).toMatch(/Invalid rev id: v9/);
    }
    expect(out['download missing file']).toMatchObject({ type: 'RemoteEntryNotFoundError' });
    expect(out['download missing file'].mro).toContain('EntryNotFoundError');
    const noExist = path.join(
      cacheDir,
      'models--org--tiny',
      '.no_exist',
      f.commit.tiny,
      'no',
      'such',
      'file.bin',
    );
    expect((await fs.stat(noExist)).size).toBe(0);
  });

  it('the hf CLI: hf download --local-dir, every file equal to upstream', async () => {
    const cli = hfCli();
    expect(cli, 'huggingface_hub installs the hf entry point').toBeDefined();
    const localDir = path.join(temp, 'local-dir');
    const result = await runHfCli(cli ?? 'hf', {
      endpoint: f.base,
      cacheDir: await freshCache('cli'),
      args: ['download', TINY, '--local-dir', localDir],
    });
    expect(result.code, result.stderr).toBe(0);
    for (const spec of TINY_FILES) {
      const upstream = await f.hub.fileInfo(TINY, spec.path);
      expect(sha256(await fs.readFile(path.join(localDir, spec.path))), spec.path).toBe(upstream.sha256);
    }
  });

  it('no Xet: hf_xet is installed, yet no request reached an Xet route', async () => {
    const probe = await runPython('import hf_xet; print("ok")', {
      endpoint: f.base,
      cacheDir: await freshCache('xet'),
    });
    expect(probe.stdout.trim(), probe.stderr).toBe('ok');
    expect(requests.some((r) => r.includes('/resolve/'))).toBe(true);
    expect(requests.filter((r) => /xet/i.test(r))).toEqual([]);
  });

  // Last: once a key exists, every later request needs it.
  it('with an API key: no token is RepositoryNotFoundError, HF_TOKEN=mh_… works', async () => {
    const created = await f.t.request('POST', '/v1/hub/keys', { scope: 'read', name: 'python-client' });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^mh_/);

    const refused = json(
      await runPython(RAISES, { endpoint: f.base, cacheDir: await freshCache('no-token') }),
    );
    for (const name of ['model_info absent', 'download absent', 'download missing file']) {
      expect(refused[name], name).toMatchObject({ type: 'RepositoryNotFoundError' });
      expect(refused[name].message, name).toMatch(/HF_TOKEN=mh_/);
    }

    const cacheDir = await freshCache('token');
    const [pointer] = json<string[]>(
      await runPython(DOWNLOAD, {
        endpoint: f.base,
        cacheDir,
        token: key,
        args: [TINY, 'model.safetensors'],
      }),
    );
    await expectCacheEntry(cacheDir, TINY, f.commit.tiny, 'model.safetensors', pointer ?? '');
    const info = json(
      await runPython(
        'import json; from huggingface_hub import HfApi; print(json.dumps(HfApi().model_info("org/tiny").sha))',
        {
          endpoint: f.base,
          cacheDir,
          token: key,
        },
      ),
    );
    expect(info).toBe(f.commit.tiny);
  });
});
