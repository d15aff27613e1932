import { setTimeout as sleep } from 'node:timers/promises';
import { Forbidden, NotFound, UpstreamError, UpstreamTimeout } from '../errors.js';

/**
 * Registering asks upstream once whether the repo can be mirrored (model info at the revision, and
 * for a gated repo whether HF_TOKEN may read its files), so a typo or a missing token shows at
 * once instead of at the first sync. The hub's refusal becomes a 404 (no such repo or revision) or
 * a 403 (gated, forbidden, needs a token), quoting the hub's reason; upstream down, failing or slow
 * is a 502 or 504 that says how to register anyway (`verify: false`).
 */
export interface RegisterCheck {
  /** The hub it asks, as messages name it (no credentials). */
  hubName: string;
  /** Whether HF_TOKEN is set, so a refusal's hint fits. */
  tokenSet: boolean;
  /** The most the whole check may take (ms); then registering answers 504. */
  timeoutMs: number;
  /** Asks upstream; throws the hub's refusal as an UpstreamError. */
  check(repoId: string, revision: string): Promise<unknown>;
}

export interface CheckContext {
  repoId: string;
  revision: string;
  hubName: string;
  tokenSet: boolean;
}

/** Runs the check within its deadline; a refusal or a failure is thrown as registering's answer. */
export async function checkUpstream(check: RegisterCheck, repoId: string, revision: string): Promise<void> {
  const context = { repoId, revision, hubName: check.hubName, tokenSet: check.tokenSet };
  const timer = new AbortController();
  const asking = check.check(repoId, revision).then(
    () => 'answered' as const,
    (error: unknown) => ({ error }),
  );
  // The late answer of a check given up on is dropped; its request ends with its own timeout.
  const deadline = sleep(check.timeoutMs, 'late' as const, { signal: timer.signal }).catch(
    () => 'late' as const,
  );
  const outcome = await Promise.race([asking, deadline]);
  timer.abort();
  if (outcome === 'answered') return;
  throw registerCheckFailure(outcome === 'late' ? new UpstreamTimeout('deadline') : outcome.error, context);
}

const REGISTER_ANYWAY =
  'Try again later, or register it anyway with "verify": false (CLI: --no-verify); its first sync checks it then.';

/** Registering's answer to a failed check. Pure: unit-tested. Errors that are not upstream's pass through. */
export function registerCheckFailure(error: unknown, context: CheckContext): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const { repoId, revision, hubName, tokenSet } = context;
  const reason = hubReason(error);
  const privateHint = tokenSet
    ? 'If it is private, the HF_TOKEN set on this hub cannot read it.'
    : 'If it is private, set HF_TOKEN on this hub to a token that can read it.';
  switch (error.code) {
    case 'UPSTREAM_REPO_NOT_FOUND':
    case 'UPSTREAM_ENTRY_NOT_FOUND':
      return new NotFound(
        'UPSTREAM_REPO_NOT_FOUND',
        `Repository ${repoId} was not found on ${hubName}${reason} Check source_repo_id. ${privateHint}`,
      );
    case 'UPSTREAM_REVISION_NOT_FOUND':
      return new NotFound(
        'UPSTREAM_REVISION_NOT_FOUND',
        `Revision ${revision} of ${repoId} was not found on ${hubName}${reason} Check revision: a branch, tag or commit of the repo.`,
      );
    case 'UPSTREAM_GATED':
      return new Forbidden(
        'UPSTREAM_GATED',
        `Repository ${repoId} is gated on ${hubName}${reason} ${
          tokenSet
            ? "The HF_TOKEN set on this hub has no access to it: ask for access on the repo's page with that token's account."
            : 'Set HF_TOKEN on this hub to a token whose account was granted access.'
        }`,
      );
    case 'UPSTREAM_UNAUTHORIZED':
      return new Forbidden(
        'UPSTREAM_UNAUTHORIZED',
        tokenSet
          ? `${hubName} refused the HF_TOKEN set on this hub while checking ${repoId}${reason} Set HF_TOKEN to a valid token.`
          : `${hubName} asks for a token to read ${repoId}${reason} Set HF_TOKEN on this hub to a token that can read it.`,
      );
    case 'UPSTREAM_FORBIDDEN':
      return new Forbidden(
        'UPSTREAM_FORBIDDEN',
        `${hubName} refused access to ${repoId}${reason} ${
          tokenSet
            ? 'The HF_TOKEN set on this hub may lack the permission to read it.'
            : 'If it needs a token, set HF_TOKEN on this hub to one that can read it.'
        }`,
      );
  }
  if (error instanceof UpstreamTimeout || isTimeout(error)) {
    return new UpstreamTimeout(
      `${hubName} did not answer in time while checking ${repoId}@${revision}. ${REGISTER_ANYWAY}`,
      { cause: error },
    );
  }
  return new UpstreamError(error.code, `${sentence(error.message)} ${REGISTER_ANYWAY}`, {
    ...error.details,
    cause: error,
  });
}

/** ` (GatedRepo): Access to model … Please log in.` — the hub's code (or status) and its own words. */
function hubReason(error: UpstreamError): string {
  const { hubErrorCode, status, hubMessage } = error.details;
  const tag = hubErrorCode ?? (status === undefined ? undefined : `HTTP ${status}`);
  const label = tag === undefined ? '' : ` (${tag})`;
  return hubMessage ? `${label}: ${sentence(hubMessage)}` : `${label}.`;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** A per-attempt timeout of the upstream request, found in the error's causes. */
function isTimeout(error: UpstreamError): boolean {
  let current: unknown = error.cause;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.name === 'TimeoutError') return true;
    const code = (current as { code?: unknown }).code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT')
      return true;
    current = current.cause;
  }
  return false;
}

/** The hub's address for messages: scheme, host and path, never credentials or a query. */
export function hubNameOf(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
}
