import http from 'node:http';
import { downloadFile, HubApiError, modelInfo } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND } from '../support/backend.js';
import { hfError, type MirrorFixture, sha256, startMirrorFixture, TINY } from '../support/mirror-fixture.js';

/**
 * Keys on the Hugging Face routes: sent as the HF token (`mh_…`, or `hf_mh_…` for the JS client,
 * which insists on the `hf_` prefix), refused the hub's way so HF clients raise their usual errors.
 */
let f: MirrorFixture;

beforeAll(async () => {
  f = await startMirrorFixture();
});

afterAll(async () => {
  await f?.close();
});

function statusWithHost(url: string, host: string): Promise<{ status: number; code: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host } }, (response) => {
        let body = '';
        response.on('data', (c: Buffer) => {
          body += c.toString('utf8');
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, code: response.headers['x-error-code'], body }),
        );
      })
      .on('error', reject);
  });
}

describe(`keys on the HF routes (${BACKEND})`, () => {
  it('while no key exists: open on loopback names, a 403 GatedRepo for any other Host', async () => {
    expect(
      (await fetch(`${f.base}/api/models/${TINY}`, { headers: { authorization: 'Bearer hf_anything' } }))
        .status,
    ).toBe(200);
    const refused = await statusWithHost(`${f.base}/${TINY}/resolve/main/config.json`, 'hub.example.com');
    expect(refused.status).toBe(403);
    expect(refused.code).toBe('GatedRepo');
    expect(JSON.parse(refused.body)).toEqual({ error: expect.stringMatching(/no API keys yet/) });
  });

  it('once a key exists: 401 RepoNotFound without one or with an unknown one; mh_… and hf_mh_… both work', async () => {
    const created = await f.t.request('POST', '/v1/hub/keys', { scope: 'read', name: 'hf-client' });
    expect(created.status).toBe(201);
    const key: string = created.body.key;

    for (const authorization of [undefined, 'Bearer hf_not_a_key', `Bearer ${key}x`, `Basic ${key}`]) {
      const response = await fetch(`${f.base}/${TINY}/resolve/main/config.json`, {
        headers: authorization ? { authorization } : {},
      });
      const error = await hfError(response);
      expect(error, authorization).toMatchObject({ status: 401, code: 'RepoNotFound' });
      expect(error.message).toMatch(/HF_TOKEN=mh_/);
      expect(error.body).toEqual({ error: error.message });
      expect(JSON.stringify(error)).not.toContain(key);
    }
    for (const token of [key, `hf_${key}`]) {
      const response = await fetch(`${f.base}/api/models/${TINY}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status, token.slice(0, 6)).toBe(200);
      expect(((await response.json()) as any).sha).toBe(f.commit.tiny);
    }
    // With a key, a repo the hub does not hold is a 404, as on the hub with a valid token.
    const absent = await fetch(`${f.base}/api/models/org/absent`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await hfError(absent)).toMatchObject({ status: 404, code: 'RepoNotFound' });

    // The JS client: its token must start with hf_, so the key goes as hf_mh_….
    const upstream = await f.hub.fileInfo(TINY, 'model.safetensors');
    const blob = await downloadFile({
      repo: TINY,
      path: 'model.safetensors',
      hubUrl: f.base,
      accessToken: `hf_${key}`,
    });
    expect(sha256(Buffer.from((await blob?.arrayBuffer()) ?? new ArrayBuffer(0)))).toBe(upstream.sha256);
    const anonymous = await modelInfo({ name: TINY, hubUrl: f.base }).catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(HubApiError);
    expect((anonymous as HubApiError).statusCode).toBe(401);
  });
});
