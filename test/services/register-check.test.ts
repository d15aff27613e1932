import { describe, expect, it } from 'vitest';
import { Forbidden, NotFound, UpstreamError, UpstreamTimeout } from '../../src/errors.js';
import { checkUpstream, hubNameOf, registerCheckFailure } from '../../src/services/register-check.js';
import { upstreamErrorFromResponse, upstreamNetworkError } from '../../src/upstream/hub-errors.js';

const HUB = 'https://huggingface.co';
const context = { repoId: 'org/x', revision: 'main', hubName: HUB, tokenSet: false };
const ANYWAY =
  'Try again later, or register it anyway with "verify": false (CLI: --no-verify); its first sync checks it then.';

/** The UpstreamError the client throws for this answer to `model info for org/x@main`. */
function hubAnswer(status: number, headers: Record<string, string>, body = ''): UpstreamError {
  return upstreamErrorFromResponse({
    status,
    header: (name) => headers[name],
    body,
    what: 'model info for org/x@main',
  });
}

function failure(error: unknown, overrides: Partial<typeof context> = {}) {
  return registerCheckFailure(error, { ...context, ...overrides }) as Error & { code: string };
}

describe('registerCheckFailure', () => {
  it('answers a repo the hub does not have (or hides) with NotFound and the hub reason', () => {
    const error = failure(
      hubAnswer(401, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' }),
    );
    expect(error).toBeInstanceOf(NotFound);
    expect(error.code).toBe('UPSTREAM_REPO_NOT_FOUND');
    expect(error.message).toBe(
      'Repository org/x was not found on https://huggingface.co (RepoNotFound): Repository not found. Check source_repo_id. If it is private, set HF_TOKEN on this hub to a token that can read it.',
    );
    // With a token, the hint says that token cannot read it; a plain 404 is the same answer.
    const plain = failure(hubAnswer(404, {}, '{"error":"Not Found"}'), { tokenSet: true });
    expect(plain).toBeInstanceOf(NotFound);
    expect(plain.message).toBe(
      'Repository org/x was not found on https://huggingface.co (HTTP 404): Not Found. Check source_repo_id. If it is private, the HF_TOKEN set on this hub cannot read it.',
    );
  });

  it('answers a revision the hub does not have with NotFound naming the revision', () => {
    const error = failure(
      hubAnswer(404, { 'x-error-code': 'RevisionNotFound' }, '{"error":"Invalid rev id: v9"}'),
      { revision: 'v9' },
    );
    expect(error).toBeInstanceOf(NotFound);
    expect(error.code).toBe('UPSTREAM_REVISION_NOT_FOUND');
    expect(error.message).toBe(
      'Revision v9 of org/x was not found on https://huggingface.co (RevisionNotFound): Invalid rev id: v9. Check revision: a branch, tag or commit of the repo.',
    );
  });

  it('answers gated, refused and token trouble with Forbidden and a hint about HF_TOKEN', () => {
    const gatedMessage = 'Access to model org/x is restricted and you are not in the authorized list.';
    const gated = failure(hubAnswer(403, { 'x-error-code': 'GatedRepo', 'x-error-message': gatedMessage }), {
      tokenSet: true,
    });
    expect(gated).toBeInstanceOf(Forbidden);
    expect(gated.code).toBe('UPSTREAM_GATED');
    expect(gated.message).toBe(
      `Repository org/x is gated on https://huggingface.co (GatedRepo): ${gatedMessage} The HF_TOKEN set on this hub has no access to it: ask for access on the repo's page with that token's account.`,
    );
    const noToken = failure(hubAnswer(401, { 'x-error-code': 'GatedRepo' }));
    expect(noToken.message).toBe(
      'Repository org/x is gated on https://huggingface.co (GatedRepo). Set HF_TOKEN on this hub to a token whose account was granted access.',
    );

    const rejected = failure(
      hubAnswer(401, { 'x-error-message': 'Invalid credentials in Authorization header' }),
      { tokenSet: true },
    );
    expect(rejected).toBeInstanceOf(Forbidden);
    expect(rejected.code).toBe('UPSTREAM_UNAUTHORIZED');
    expect(rejected.message).toBe(
      'https://huggingface.co refused the HF_TOKEN set on this hub while checking org/x (HTTP 401): Invalid credentials in Authorization header. Set HF_TOKEN to a valid token.',
    );
    const needsToken = failure(hubAnswer(401, {}));
    expect(needsToken.message).toBe(
      'https://huggingface.co asks for a token to read org/x (HTTP 401). Set HF_TOKEN on this hub to a token that can read it.',
    );

    const disabled = failure(hubAnswer(403, { 'x-error-message': 'Access to this resource is disabled.' }));
    expect(disabled).toBeInstanceOf(Forbidden);
    expect(disabled.code).toBe('UPSTREAM_FORBIDDEN');
    expect(disabled.message).toBe(
      'https://huggingface.co refused access to org/x (HTTP 403): Access to this resource is disabled. If it needs a token, set HF_TOKEN on this hub to one that can read it.',
    );
  });

  it('answers upstream failing or unreachable with a 502 UpstreamError that says how to register anyway', () => {
    const failing = failure(hubAnswer(503, {}, 'Service Unavailable'));
    expect(failing).toBeInstanceOf(UpstreamError);
    expect(failing).not.toBeInstanceOf(UpstreamTimeout);
    expect(failing.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(failing.message).toBe(
      `Upstream failed while fetching model info for org/x@main (HTTP 503): Service Unavailable. ${ANYWAY}`,
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const unreachable = failure(
      upstreamNetworkError(new TypeError('fetch failed', { cause: refused }), 'model info for org/x@main'),
    );
    expect(unreachable.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(unreachable.message).toBe(
      `Could not reach upstream while fetching model info for org/x@main: connect ECONNREFUSED 127.0.0.1:9. ${ANYWAY}`,
    );
    const limited = failure(hubAnswer(429, { 'retry-after': '30' }));
    expect(limited.code).toBe('UPSTREAM_RATE_LIMITED');
    expect(limited.message).toContain(ANYWAY);
  });

  it('answers a request that timed out with an UpstreamTimeout (504)', () => {
    const timedOut = upstreamNetworkError(
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      'model info for org/x@main',
    );
    const error = failure(timedOut);
    expect(error).toBeInstanceOf(UpstreamTimeout);
    expect(error.message).toBe(
      `https://huggingface.co did not answer in time while checking org/x@main. ${ANYWAY}`,
    );
  });

  it('passes errors that are not upstream answers through unchanged', () => {
    const bug = new Error('boom');
    expect(registerCheckFailure(bug, context)).toBe(bug);
  });
});

describe('checkUpstream', () => {
  const check = (answer: () => Promise<unknown>, timeoutMs = 1_000) => ({
    hubName: HUB,
    tokenSet: false,
    timeoutMs,
    check: answer,
  });

  it('resolves when upstream answers, and throws the mapped refusal when it refuses', async () => {
    await expect(
      checkUpstream(
        check(async () => ({ commit: 'a'.repeat(40) })),
        'org/x',
        'main',
      ),
    ).resolves.toBe(undefined);
    await expect(
      checkUpstream(
        check(async () => {
          throw hubAnswer(404, { 'x-error-code': 'RepoNotFound' });
        }),
        'org/x',
        'main',
      ),
    ).rejects.toMatchObject({ code: 'UPSTREAM_REPO_NOT_FOUND', constructor: NotFound });
  });

  it('gives up at its deadline with an UpstreamTimeout', async () => {
    const started = Date.now();
    const never = new Promise<never>(() => undefined);
    const error = await checkUpstream(
      check(() => never, 50),
      'org/x',
      'main',
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamTimeout);
    expect((error as Error).message).toContain('did not answer in time while checking org/x@main');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('hubNameOf', () => {
  it('keeps scheme, host and path, and drops credentials, query and trailing slashes', () => {
    expect(hubNameOf('https://huggingface.co')).toBe('https://huggingface.co');
    expect(hubNameOf('https://user:secret@mirror.example:8443/hf/?token=x')).toBe(
      'https://mirror.example:8443/hf',
    );
  });
});
