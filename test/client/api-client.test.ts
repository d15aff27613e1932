import { describe, expect, it } from 'vitest';
import { HubApiError, HubUnreachableError, ModelHubClient } from '../../src/client/api-client.js';
import { freePort } from '../support/child-server.js';

/** A fetch that answers from a table and records what was asked. */
function scriptedFetch(answers: Record<string, { status: number; body: string }>) {
  const calls: { url: string; method: string; body: string | undefined; authorization?: string }[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = String(input);
    const authorization = new Headers(init?.headers).get('authorization');
    calls.push({
      url,
      method: init?.method ?? 'GET',
      body: init?.body as string | undefined,
      ...(authorization ? { authorization } : {}),
    });
    const answer = answers[url];
    if (!answer) throw new Error(`unexpected request ${url}`);
    return new Response(answer.body, { status: answer.status });
  };
  return { fetchImpl, calls };
}

const model = (repoId: string, id: string) => ({
  id,
  vendor: repoId.split('/')[0],
  name: repoId.split('/')[1],
  repo_id: repoId,
  revision: 'main',
  commit_sha: null,
  status: 'registered',
  error: null,
  last_synced_at: null,
  created_at: '2025-06-01T12:00:00.000Z',
  updated_at: '2025-06-01T12:00:00.000Z',
});

describe('ModelHubClient', () => {
  it('turns an error body into a HubApiError with its status, code and message', async () => {
    const { fetchImpl, calls } = scriptedFetch({
      'http://hub.test/v1/hub/sync': {
        status: 404,
        body: JSON.stringify({
          error: { code: 'REPO_NOT_FOUND', message: 'Repository a/b is not registered' },
        }),
      },
    });
    const client = new ModelHubClient(new URL('http://hub.test'), { fetch: fetchImpl });
    const failure = client.requestSync('a/b');
    await expect(failure).rejects.toBeInstanceOf(HubApiError);
    await expect(failure).rejects.toMatchObject({
      status: 404,
      code: 'REPO_NOT_FOUND',
      message: 'Repository a/b is not registered',
    });
    expect(calls[0]).toEqual({
      url: 'http://hub.test/v1/hub/sync',
      method: 'POST',
      body: '{"repo_id":"a/b"}',
    });
  });

  it('names the status when the answer is not the API’s JSON', async () => {
    const { fetchImpl } = scriptedFetch({
      'http://hub.test/prefix/v1/hub/jobs/j1': { status: 502, body: '<html>Bad Gateway</html>' },
    });
    const client = new ModelHubClient(new URL('http://hub.test/prefix'), { fetch: fetchImpl });
    await expect(client.getJob('j1')).rejects.toMatchObject({
      code: 'HTTP_502',
      message:
        'GET http://hub.test/prefix/v1/hub/jobs/j1 answered HTTP 502 without a JSON error; is http://hub.test/prefix a model hub?',
    });
  });

  it('follows next_cursor through every page of models, and finds one by repo id', async () => {
    const { fetchImpl, calls } = scriptedFetch({
      'http://hub.test/v1/hub/models': {
        status: 200,
        body: JSON.stringify({ items: [model('a/one', 'm1')], next_cursor: 'c2' }),
      },
      'http://hub.test/v1/hub/models?cursor=c2': {
        status: 200,
        body: JSON.stringify({ items: [model('b/two', 'm2')], next_cursor: null }),
      },
    });
    const client = new ModelHubClient(new URL('http://hub.test'), { fetch: fetchImpl });
    expect((await client.listModels()).map((m) => m.repo_id)).toEqual(['a/one', 'b/two']);
    expect((await client.findModelByRepoId('b/two')).id).toBe('m2');
    await expect(client.findModelByRepoId('c/three')).rejects.toMatchObject({
      code: 'REPO_NOT_FOUND',
      message: 'Repository c/three is not registered',
    });
    expect(calls.map((c) => c.url)).toContain('http://hub.test/v1/hub/models?cursor=c2');
  });

  it('sends credentials from the URL as a Basic authorization header, never in the URL', async () => {
    const { fetchImpl, calls } = scriptedFetch({
      'http://hub.test/v1/hub/jobs?limit=5': { status: 200, body: '{"items":[],"next_cursor":null}' },
    });
    const client = new ModelHubClient(new URL('http://admin:s3cret@hub.test'), { fetch: fetchImpl });
    expect(await client.listJobs({ limit: 5 })).toEqual({ items: [], next_cursor: null });
    expect(calls).toEqual([
      {
        url: 'http://hub.test/v1/hub/jobs?limit=5',
        method: 'GET',
        body: undefined,
        authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}`,
      },
    ]);
    expect(client.displayUrl).toBe('http://hub.test');
  });

  it('reports a hub that is not listening by its URL, without the credentials in it', async () => {
    const port = await freePort();
    const client = new ModelHubClient(new URL(`http://admin:s3cret@127.0.0.1:${port}/`));
    const failure = client.listModels();
    await expect(failure).rejects.toBeInstanceOf(HubUnreachableError);
    const error = (await failure.catch((e: unknown) => e)) as HubUnreachableError;
    expect(error.message).toBe(
      `cannot reach the model hub at http://127.0.0.1:${port} (ECONNREFUSED); is it running? Point --url or MODEL_HUB_URL at it`,
    );
    expect(error.message).not.toContain('s3cret');
  });
});
