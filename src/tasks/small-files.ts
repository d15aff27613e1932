import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import { nowIso } from '../clock.js';
import { contentLeaseKey } from '../db/artifacts.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { IntegrityError, isRetryable, UpstreamError } from '../errors.js';
import { assertSafeRelativePath } from '../store/safe-path.js';
import { describeUpstreamRetry, withRetry } from '../upstream/retry.js';
import {
  completedEvent,
  type DownloadDeps,
  type DownloadOutcome,
  failedOutcome,
  linkIfMetadata,
} from './download-artifact.js';
import { reportUpstreamRetry } from './job-context.js';

/**
 * The small-file path of the download engine: many small files (configs, tokenizers, a repo of
 * thousands of JSON files) cost in round trips, syscalls and commits, not in bytes. Per file: one
 * GET of `/resolve/<commit>/<path>` (no HEAD: the tree listing already gave the size and the hash
 * to verify), the body held in memory, hashed (git blob SHA-1 for plain files, SHA-256 for LFS),
 * verified, written to a unique temp file and fsynced. Then, per group of files (a group commit):
 *
 *   1. every temp file of the group is renamed into blobs/ (or dropped, its blob exists), then
 *      blobs/ is fsynced once: every blob of the group is durable;
 *   2. only then, one database transaction marks the group's artifacts completed and records their
 *      `artifact.completed` events;
 *   3. metadata links, progress and outcomes follow.
 *
 * A crash between 1 and 2 leaves verified blobs that no row names yet (the next run reuses them);
 * a completed row always names a durable blob, and no unverified byte reaches blobs/. A small file
 * is not resumable (a retry fetches it again) and takes no cross-worker content lock: fetching a
 * few KiB twice costs less than the lock's two writes; in this process the same content is still
 * fetched once (single flight).
 */

/** Files up to this size, with a hash to verify from the listing, take this path. */
export const SMALL_FILE_MAX_BYTES = 64 * 1024;
/** Small files of one job fetched at once (each holds one keep-alive connection while it does). */
export const SMALL_FILE_CONCURRENCY = 16;
/**
 * Small files of one job in progress at once, most of them fetched and waiting for their group to
 * commit: a fetch slot is free again as soon as its file is staged, so the commit's latency does
 * not bound the fetch rate.
 */
const FILES_IN_PROGRESS = 512;
/**
 * With no commit running, a group starts when it holds this many files or `GROUP_WAIT_MS` after its
 * first one; while one runs, the next takes everything that finished meanwhile, up to `GROUP_MAX_ROWS`.
 */
const GROUP_MAX_FILES = 256;
const GROUP_WAIT_MS = 25;
const GROUP_MAX_ROWS = 2000;
/** Rows looked up (already stored? a blob with this git oid?) per query. */
const LOOKUP_WINDOW = 500;
/** One job-log line per this many files at most (a line per file would be a write per file). */
const LOG_EVERY_FILES = 1000;

export function isSmallFile(artifact: ArtifactRow): boolean {
  return (
    artifact.size <= SMALL_FILE_MAX_BYTES &&
    (artifact.upstreamSha256 !== null || artifact.upstreamOid !== null)
  );
}

export interface SmallFileItem {
  artifact: ArtifactRow;
  model: ModelRepoRow;
}

type Completed = Extract<DownloadOutcome, { status: 'completed' }>;

interface Lookup {
  current: Map<string, ArtifactRow>;
  byOid: Map<string, string>;
}

/**
 * Downloads small files, `concurrency` at a time, committing them in groups. Returns one outcome
 * per item, in order; `onOutcome` sees each as it settles. Throws (after every file it started has
 * settled) only what says nothing about the files: an abort, a database outage.
 */
export async function downloadSmallFiles(
  deps: DownloadDeps,
  items: readonly SmallFileItem[],
  options: {
    concurrency?: number;
    onOutcome?: (item: SmallFileItem, outcome: DownloadOutcome, elapsedMs: number) => Promise<void> | void;
  } = {},
): Promise<DownloadOutcome[]> {
  const outcomes: DownloadOutcome[] = new Array(items.length);
  const lookups = new Map<number, Promise<Lookup>>();
  const lookup = (index: number): Promise<Lookup> => {
    const window = Math.floor(index / LOOKUP_WINDOW);
    let found = lookups.get(window);
    if (!found) {
      found = lookUp(deps, items.slice(window * LOOKUP_WINDOW, (window + 1) * LOOKUP_WINDOW));
      // Settled here too, so a window nobody awaits (an aborted run) never rejects unhandled.
      found.catch(() => undefined);
      lookups.set(window, found);
    }
    return found;
  };
  // One listener on the job's signal for all the requests (each adds its own to this one).
  const stop = new AbortController();
  setMaxListeners(FILES_IN_PROGRESS + 16, stop.signal);
  const abort = () => stop.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', abort, { once: true });
  if (deps.signal?.aborted) abort();
  const fileDeps: DownloadDeps = { ...deps, signal: stop.signal };
  const committer = new GroupCommitter(deps);
  const fetchSlot = pLimit(Math.max(1, options.concurrency ?? SMALL_FILE_CONCURRENCY));
  const summary = new Summary(deps);
  let next = 0;
  let fatal: unknown;
  const worker = async () => {
    while (fatal === undefined && next < items.length) {
      const index = next++;
      const item = items[index] as SmallFileItem;
      const started = Date.now();
      try {
        const outcome = await downloadOne(fileDeps, committer, fetchSlot, item, await lookup(index));
        outcomes[index] = outcome;
        summary.add(outcome);
        await options.onOutcome?.(item, outcome, Date.now() - started);
      } catch (error) {
        fatal ??= error;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(FILES_IN_PROGRESS, items.length) }, worker));
  } finally {
    deps.signal?.removeEventListener('abort', abort);
  }
  await committer.close();
  await summary.flush();
  if (fatal !== undefined) throw fatal;
  return outcomes;
}

/** What the database already knows about a window of files: their rows now, blobs by git oid. */
async function lookUp(deps: DownloadDeps, window: readonly SmallFileItem[]): Promise<Lookup> {
  const current = new Map(
    (await deps.artifacts.findByIds(window.map((i) => i.artifact.id))).map((row) => [row.id, row]),
  );
  const oids = window.flatMap(({ artifact }) =>
    artifact.upstreamSha256 === null && artifact.upstreamOid !== null ? [artifact.upstreamOid] : [],
  );
  return { current, byOid: await deps.artifacts.findCompletedSha256ByOids(oids) };
}

async function downloadOne(
  deps: DownloadDeps,
  committer: GroupCommitter,
  fetchSlot: LimitFunction,
  { artifact, model }: SmallFileItem,
  known: Lookup,
): Promise<DownloadOutcome> {
  deps.progress.fileStarted(artifact.id, artifact.path, artifact.size);
  try {
    assertSafeRelativePath(artifact.path);
    const current = known.current.get(artifact.id) ?? artifact;
    let outcome: Completed;
    if (
      current.downloadStatus === 'completed' &&
      current.sha256 &&
      (await deps.store.hasBlob(current.sha256))
    ) {
      outcome = { status: 'completed', sha256: current.sha256, bytes: 0, source: 'present' };
      await committer.add({ artifact, sha256: current.sha256, source: 'present', bytes: 0 }).committed;
    } else {
      const stored =
        artifact.upstreamSha256 ??
        (artifact.upstreamOid !== null ? known.byOid.get(artifact.upstreamOid) : undefined);
      if (stored !== undefined && (await deps.store.hasBlob(stored))) {
        outcome = { status: 'completed', sha256: stored, bytes: 0, source: 'deduplicated' };
        await committer.add({ artifact, sha256: stored, source: 'deduplicated', bytes: 0 }).committed;
      } else {
        outcome = await fetchOnce(deps, committer, fetchSlot, artifact, model);
      }
    }
    await linkIfMetadata(deps, artifact, model, outcome.sha256);
    deps.progress.fileFinished(artifact.id, { ok: true, size: artifact.size });
    return outcome;
  } catch (error) {
    return failedOutcome(deps, artifact, error);
  }
}

/**
 * The first file with a given content in this process fetches it; the others wait for its blob to be
 * durable and complete against it. The leader's own row is committed with its group.
 */
async function fetchOnce(
  deps: DownloadDeps,
  committer: GroupCommitter,
  fetchSlot: LimitFunction,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<Completed> {
  let committed: Promise<void> | undefined;
  const result = await deps.inFlight.run(contentLeaseKey(artifact), async (): Promise<Completed> => {
    const { sha256, content } = await fetchSlot(() => fetchVerified(deps, artifact, model));
    // Outside the fetch slot: the fsync must not hold a connection.
    const tempPath = await deps.store.writeTemp(artifact.id, content);
    const entry = committer.add({ artifact, sha256, tempPath, source: 'downloaded', bytes: artifact.size });
    committed = entry.committed;
    await entry.durable;
    return { status: 'completed', sha256, bytes: artifact.size, source: 'downloaded' };
  });
  if (committed) {
    await committed;
    return result;
  }
  if (!(await deps.store.hasBlob(result.sha256))) {
    // The leader's blob went away meanwhile (collected): fetch it for this artifact.
    return fetchOnce(deps, committer, fetchSlot, artifact, model);
  }
  await committer.add({ artifact, sha256: result.sha256, source: 'deduplicated', bytes: 0 }).committed;
  return { status: 'completed', sha256: result.sha256, bytes: 0, source: 'deduplicated' };
}

/** GET, hash, verify against the listing, write to a fsynced temp file; retried while upstream may recover. */
async function fetchVerified(
  deps: DownloadDeps,
  artifact: ArtifactRow,
  model: ModelRepoRow,
): Promise<{ sha256: string; content: Buffer }> {
  const commit = artifact.commitSha ?? model.commitSha;
  if (!commit) throw new Error(`Artifact ${artifact.path} has no pinned commit; sync the repo first`);
  const url = deps.hub.fileUrl(model.repoId, commit, artifact.path);
  const settings = deps.transfer;
  const content = await withRetry(
    () =>
      settings.connectionBudget(async () => {
        deps.signal?.throwIfAborted();
        const upstream = await deps.hub.openUrl(url, deps.signal ? { signal: deps.signal } : {});
        const chunks: Buffer[] = [];
        let received = 0;
        for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
          received += chunk.byteLength;
          if (received > artifact.size) {
            upstream.body.destroy();
            throw new IntegrityError(
              'size',
              `${artifact.size} bytes`,
              `more than ${artifact.size}`,
              artifact.path,
            );
          }
          chunks.push(chunk);
        }
        if (received < artifact.size && upstream.totalSize === artifact.size) {
          throw new UpstreamError(
            'UPSTREAM_UNAVAILABLE',
            `Upstream closed ${artifact.path} early at byte ${received}`,
            { retryable: true },
          );
        }
        return Buffer.concat(chunks, received);
      }),
    settings.retry,
    (error, attempt, delayMs) => {
      deps.metrics.upstreamRetry();
      const retry = describeUpstreamRetry(error, {
        attempt,
        maxRetries: settings.retry.maxRetries,
        delayMs,
        what: artifact.path,
      });
      void (reportUpstreamRetry(retry) ?? deps.log(retry.message));
    },
    (error) => !deps.signal?.aborted && isRetryable(error),
  );
  deps.progress.fileProgress(artifact.id, content.byteLength, content.byteLength);
  const sha256 = createHash('sha256').update(content).digest('hex');
  if (content.byteLength !== artifact.size) {
    throw new IntegrityError('size', `${artifact.size} bytes`, `${content.byteLength} bytes`, artifact.path);
  }
  if (artifact.upstreamSha256 !== null) {
    if (sha256 !== artifact.upstreamSha256)
      throw new IntegrityError('sha256', artifact.upstreamSha256, sha256, artifact.path);
  } else if (artifact.upstreamOid !== null) {
    const gitSha1 = createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
    if (gitSha1 !== artifact.upstreamOid)
      throw new IntegrityError('git-sha1', artifact.upstreamOid, gitSha1, artifact.path);
  }
  return { sha256, content };
}

interface GroupEntry {
  artifact: ArtifactRow;
  sha256: string;
  /** A verified, fsynced temp file to move into blobs/; none when the blob is already stored. */
  tempPath?: string;
  source: Completed['source'];
  bytes: number;
}

interface Pending {
  entry: GroupEntry;
  durable: Deferred;
  committed: Deferred;
}

/**
 * Collects finished files and commits them in groups: their blobs durable first (renames, one
 * fsync of blobs/), then their rows and events in one transaction. One group commits at a time;
 * the files that finish meanwhile form the next group, taken as soon as it ends (so groups grow
 * when commits are slow, instead of queueing up).
 */
class GroupCommitter {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: DownloadDeps) {}

  add(entry: GroupEntry): { durable: Promise<void>; committed: Promise<void> } {
    const pending = { entry, durable: deferred(), committed: deferred() };
    this.pending.push(pending);
    if (!this.running) {
      if (this.pending.length >= GROUP_MAX_FILES) this.start();
      else this.timer ??= setTimeout(() => this.start(), GROUP_WAIT_MS);
    }
    return { durable: pending.durable.promise, committed: pending.committed.promise };
  }

  /** Commits what is pending and waits for every commit to end. */
  async close(): Promise<void> {
    if (this.pending.length > 0) this.start();
    while (this.running) await this.running;
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) return;
    this.running = (async () => {
      while (this.pending.length > 0) {
        await this.commit(this.pending.splice(0, GROUP_MAX_ROWS));
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async commit(group: Pending[]): Promise<void> {
    const { deps } = this;
    const staged = group.filter((p) => p.entry.tempPath !== undefined);
    const files = staged.map((p) => ({ tempPath: p.entry.tempPath as string, sha256: p.entry.sha256 }));
    try {
      if (deps.signal?.aborted) {
        await deps.store.discardTemps(files.map((f) => f.tempPath));
        throw deps.signal.reason;
      }
      // Removes what it did not move when it fails; blobs that did land are verified, reused later.
      await deps.store.commitTemps(files);
    } catch (error) {
      for (const p of group) p.durable.reject(error);
      for (const p of group) p.committed.reject(error);
      return;
    }
    for (const p of group) p.durable.resolve();
    try {
      await this.recordCompleted(group.map((p) => p.entry));
      for (const p of group) p.committed.resolve();
    } catch (error) {
      for (const p of group) p.committed.reject(error);
    }
  }

  /** Rows and events of the group, one transaction, retried through a database outage. */
  private async recordCompleted(entries: GroupEntry[]): Promise<void> {
    const { deps } = this;
    const write = async () => {
      const at = nowIso();
      const completing = entries.filter((e) => e.source !== 'present');
      const present = entries.filter((e) => e.source === 'present');
      await deps.events.commit(
        async (trx) => {
          const artifacts = deps.artifacts.in(trx);
          await artifacts.markCompletedMany(
            completing.map((e) => ({
              id: e.artifact.id,
              sha256: e.sha256,
              localPath: deps.store.blobRelativePath(e.sha256),
              size: e.artifact.size,
            })),
            at,
          );
          if (present.length > 0)
            await artifacts.markUsed(
              present.map((e) => e.artifact.id),
              at,
            );
        },
        entries.map((e) => completedEvent(deps, e.artifact, e.sha256, e.source, e.bytes)),
      );
    };
    await (deps.retryOutage
      ? deps.retryOutage(`the completion of ${entries.length} small file(s)`, write)
      : write());
  }
}

/** Job log lines for small files: a count every `LOG_EVERY_FILES` files and at the end, not one per file. */
class Summary {
  private counts = { downloaded: 0, deduplicated: 0, present: 0, failed: 0, bytes: 0 };
  private logged = 0;
  private readonly started = Date.now();

  constructor(private readonly deps: DownloadDeps) {}

  add(outcome: DownloadOutcome): void {
    if (outcome.status === 'failed') this.counts.failed++;
    else {
      this.counts[outcome.source]++;
      this.counts.bytes += outcome.bytes;
    }
    if (this.total() - this.logged >= LOG_EVERY_FILES) void this.flush();
  }

  async flush(): Promise<void> {
    const total = this.total();
    if (total === this.logged) return;
    this.logged = total;
    const { downloaded, deduplicated, present, failed, bytes } = this.counts;
    const seconds = Math.max(Date.now() - this.started, 1) / 1000;
    await this.deps.log(
      `Small files: ${downloaded} downloaded (${bytes} bytes, each verified), ${deduplicated} reused stored blobs, ` +
        `${present} already stored${failed ? `, ${failed} failed` : ''} in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)} files/s)`,
    );
  }

  private total(): number {
    const { downloaded, deduplicated, present, failed } = this.counts;
    return downloaded + deduplicated + present + failed;
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A group can fail before anyone awaits its `durable` (a follower awaits `committed` only).
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
