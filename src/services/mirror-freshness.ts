import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelRepoRow } from '../db/schema.js';
import { isCommitId } from './revision.js';

/**
 * How current the mirror keeps a repo that tracks a branch or tag (pull-through): the name is
 * re-resolved upstream at most once per `ttlMs` (counting from the last sync or check), and when it
 * moved, the request waits for the repo to be synced to the new commit. Upstream slow, down or
 * refusing: the last synced commit is served, and it is asked again sooner than a whole TTL later.
 * A repo pinned to a commit never moves, so it is never checked.
 */
export interface FreshnessDeps {
  ttlMs: number;
  /** How long a request waits for upstream to name the head (ms); then the last commit is served. */
  checkTimeoutMs: number;
  resolveHead(model: ModelRepoRow): Promise<string>;
  /** Syncs the repo (joining a sync already running) and answers the row once it is synced. */
  syncToHead(model: ModelRepoRow): Promise<ModelRepoRow>;
  warn(message: string): void;
  now?: () => number;
}

/** After a failed check, the next one comes this soon (or after the TTL, if that is shorter). */
const RECHECK_AFTER_FAILURE_MS = 30_000;

type HeadOutcome = { head: string } | { error: unknown };

export class RevisionFreshness {
  private readonly checkedAt = new Map<string, number>();
  private readonly checks = new Map<string, Promise<ModelRepoRow>>();
  private readonly now: () => number;

  constructor(private readonly deps: FreshnessDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The row to serve: `model` while it is fresh (or upstream cannot say), else synced to the head. */
  async current(model: ModelRepoRow): Promise<ModelRepoRow> {
    if (model.commitSha === null || isCommitId(model.revision)) return model;
    const syncedAt = model.lastSyncedAt === null ? 0 : Date.parse(model.lastSyncedAt);
    const last = Math.max(this.checkedAt.get(model.id) ?? 0, syncedAt);
    if (this.now() - last < this.deps.ttlMs) return model;
    let check = this.checks.get(model.id);
    if (!check) {
      check = this.check(model).finally(() => this.checks.delete(model.id));
      this.checks.set(model.id, check);
    }
    return check;
  }

  private async check(model: ModelRepoRow): Promise<ModelRepoRow> {
    const { deps } = this;
    const named = `${model.repoId}@${model.revision}`;
    const held = (model.commitSha ?? '').slice(0, 12);
    const resolving: Promise<HeadOutcome> = deps.resolveHead(model).then(
      (head) => ({ head }),
      (error: unknown) => ({ error }),
    );
    const timer = new AbortController();
    const outcome = await Promise.race([
      resolving,
      sleep(deps.checkTimeoutMs, undefined, { signal: timer.signal }).catch(() => undefined),
    ]);
    timer.abort();
    if (outcome === undefined) {
      this.checkedAfterFailure(model.id);
      deps.warn(
        `Upstream did not name the head of ${named} within ${deps.checkTimeoutMs} ms: serving the last synced commit ${held}`,
      );
      // The answer may still come: a moved head is synced then, for the requests after this one.
      void resolving.then((late) => {
        if ('head' in late && late.head !== model.commitSha) {
          deps.syncToHead(model).catch((error: unknown) => deps.warn(syncFailed(named, error)));
        }
      });
      return model;
    }
    if ('error' in outcome) {
      this.checkedAfterFailure(model.id);
      deps.warn(
        `Could not check the head of ${named} upstream (${messageOf(outcome.error)}): serving the last synced commit ${held}`,
      );
      return model;
    }
    this.checkedAt.set(model.id, this.now());
    if (outcome.head === model.commitSha) return model;
    try {
      return await deps.syncToHead(model);
    } catch (error) {
      deps.warn(`${syncFailed(named, error)}: serving the last synced commit ${held}`);
      return model;
    }
  }

  private checkedAfterFailure(modelId: string): void {
    const { ttlMs } = this.deps;
    this.checkedAt.set(modelId, this.now() - ttlMs + Math.min(ttlMs, RECHECK_AFTER_FAILURE_MS));
  }
}

function syncFailed(named: string, error: unknown): string {
  return `${named} moved upstream, but syncing it to the new head failed (${messageOf(error)})`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
