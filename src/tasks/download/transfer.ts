import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LimitFunction } from 'p-limit';
import { IntegrityError, isRetryable, UpstreamError } from '../../errors.js';
import type { HubInstrumentation } from '../../events/metrics.js';
import type { BlobStore } from '../../store/blob-store.js';
import { FileHasher } from '../../store/file-hasher.js';
import { FileWriter } from '../../store/file-writer.js';
import type { HashWorker } from '../../store/hash-worker.js';
import type { PartialDownloads, PartialState } from '../../store/partial-downloads.js';
import type { FileLocation, HubClient } from '../../upstream/hf-client.js';
import { backoffDelayMs, describeUpstreamRetry, type RetryPolicy, withRetry } from '../../upstream/retry.js';
import { reportUpstreamRetry } from '../job-context.js';
import { cancelledBy } from '../worker-leases.js';
import { AdaptiveConcurrency } from './adaptive-concurrency.js';
import { FrontierHasher } from './frontier-hasher.js';

/**
 * The download engine for one file. Bytes go to `temp/<key>.part` at their offsets; one SHA-256
 * (and, for plain git files, the git blob SHA-1) advances over the file's contiguous written prefix
 * as writes complete, reading the bytes back on the process's hash worker thread for all but small
 * files (file-hasher.ts), so hashing never holds up the event loop that reads the sockets and no
 * byte is kept in memory for it; the file is verified when its last byte is written, fsynced, and
 * renamed into `blobs/`.
 *
 * - Resume: the durable prefix is recorded next to the partial; a retry, a restart or a new
 *   process continues with `Range: bytes=N-` guarded by `If-Range`, after re-hashing the prefix.
 *   A 200 instead of 206, a changed size or a prefix longer than the file starts over cleanly.
 * - Retry: transient failures back off (Retry-After wins) and resume; the attempt count resets
 *   whenever bytes arrive. An expired signed URL is re-resolved through `/resolve/`.
 * - Parallel: above a size threshold the rest of the file (all of it, or what a resume left) is
 *   fetched as ranges over several connections, handed out in order, so the gap the hash waits
 *   for closes soon.
 */
export interface TransferTarget {
  /** Names the partial download (the artifact id). */
  key: string;
  repoId: string;
  commit: string;
  path: string;
  size: number;
  /** LFS sha256, when the file is in LFS. */
  sha256: string | null;
  /** Git blob sha1 (verified for plain git files). */
  gitOid: string | null;
}

export interface TransferSettings {
  retry: RetryPolicy;
  parallelThresholdBytes: number;
  connectionsPerFile: number;
  chunkBytes: number;
  /** Shared by every download in the process: at most this many upstream connections at once. */
  connectionBudget: LimitFunction;
  /**
   * The process's hashing thread: large files are hashed there, off the event loop (small ones
   * inline). Without it every file is hashed inline.
   */
  hashWorker?: HashWorker | undefined;
}

export interface TransferDeps {
  hub: HubClient;
  store: BlobStore;
  partials: PartialDownloads;
  log: (message: string) => Promise<void>;
  onProgress: (bytesDone: number) => void;
  /**
   * How far the partial file is durable (fsynced, contiguous), for readers that stream it while it
   * grows: once when an attempt starts (`start`: its resume point, 0 after the partial was discarded),
   * then after each checkpoint that advanced it. Readers never read at or past that offset.
   */
  onDurable?: (durableBytes: number, start: boolean) => void;
  /**
   * Aborts the transfer when its lease is lost: every connection stops at once, nothing more is
   * written, and the partial file and its resume state stay for the worker that took over.
   */
  signal?: AbortSignal;
  metrics: Pick<HubInstrumentation, 'upstreamRetry' | 'integrityFailure'>;
}

export interface TransferResult {
  sha256: string;
  bytes: number;
  relativePath: string;
  resumedFrom: number;
  connections: number;
}

const CHECKPOINT_INTERVAL_MS = 1000;
/** How often the throughput controller looks (it decides per window of 200 ms). */
const ADAPT_TICK_MS = 25;
/**
 * Received bytes gathered per write. Each connection holds one batch being filled, and the socket
 * buffers in it stay in memory until the garbage collector runs: 1 MiB batches (fewer writes, ~10 %
 * faster on a fast link) peaked 10–20 MiB higher while downloading.
 */
const WRITE_BATCH_BYTES = 256 * 1024;
/**
 * The largest range one request asks for once the connection count is settled. Every request
 * waits a round trip for its first byte (16 ms against the throttled fake hub, where a 4 MiB range
 * takes 80 ms), so fewer, larger ranges keep every connection busier; larger than this, a
 * connection the controller drops would keep streaming for long.
 */
const MAX_SETTLED_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * The bytes one request fetches. `end` may be moved back while the response streams (the lone
 * connection's range, when more connections join): the connection keeps what arrives up to it and
 * closes the response there.
 */
interface SegmentRange {
  end: number;
  /** The first byte not received yet (kept in memory or written). */
  reached: number;
}

/** Raised inside a transfer when upstream sent the whole file instead of the range: start over. */
class StartOver extends Error {}

export async function transferFile(
  deps: TransferDeps,
  target: TransferTarget,
  settings: TransferSettings,
): Promise<TransferResult> {
  let roundSettings = settings;
  let fresh = false;
  for (let round = 0; ; round++) {
    try {
      return await transferRound(deps, target, roundSettings, fresh);
    } catch (error) {
      if (deps.signal?.aborted) throw deps.signal.reason;
      const resumed = error instanceof ResumedIntegrityError;
      if ((error instanceof StartOver || resumed) && round < 2) {
        if (resumed) deps.metrics.integrityFailure(error.cause.algorithm);
        await deps.log(`${target.path}: ${error.message}; starting over from byte 0`);
        await deps.partials.discard(target.key);
        fresh = true;
        // A server that ignores Range cannot serve parallel parts either.
        if (error instanceof StartOver) roundSettings = { ...settings, connectionsPerFile: 1 };
        continue;
      }
      if (!isRetryable(error) || resumed) await deps.partials.discard(target.key);
      throw resumed ? error.cause : error;
    }
  }
}

class ResumedIntegrityError extends Error {
  constructor(override readonly cause: IntegrityError) {
    super(`${cause.message} after resuming`);
  }
}

async function transferRound(
  deps: TransferDeps,
  target: TransferTarget,
  settings: TransferSettings,
  fresh: boolean,
): Promise<TransferResult> {
  const expected = target.sha256 ?? target.gitOid ?? 'unknown';
  const dataPath = deps.partials.dataPath(target.key);
  let state = fresh ? undefined : await deps.partials.load(target.key);
  if (
    state &&
    (state.size !== target.size || state.expected !== expected || state.committedBytes > target.size)
  ) {
    await deps.log(`${target.path}: partial download does not match the file any more; discarding it`);
    state = undefined;
  }
  const writer = await FileWriter.open(dataPath, { keep: state !== undefined });
  let committed = false;
  let hasher: FileHasher | undefined;
  try {
    const resumeFrom = state ? Math.min(state.committedBytes, await writer.size()) : 0;
    hasher = new FileHasher(dataPath, {
      ...(target.sha256 ? {} : { gitBlobSize: target.size }),
      worker: settings.hashWorker,
      expectedBytes: target.size,
    });
    if (resumeFrom > 0) {
      hasher.hashTo(resumeFrom);
      await deps.log(`${target.path}: resuming at byte ${resumeFrom} of ${target.size}`);
    } else {
      await writer.truncate(0);
    }
    const abort = new AbortController();
    // One listener per open request and per waiting connection: more than Node's default of 10.
    setMaxListeners(4 * settings.connectionsPerFile + 8, abort.signal);
    const stop = () => abort.abort(deps.signal?.reason);
    deps.signal?.addEventListener('abort', stop, { once: true });
    if (deps.signal?.aborted) stop();
    const session: Session = {
      deps,
      target,
      settings,
      writer,
      frontier: new FrontierHasher(hasher, resumeFrom),
      location: undefined,
      relocating: undefined,
      validator: state?.validator ?? null,
      abort,
      received: 0,
      streamedConnections: 0,
      peakConnections: 0,
    };
    const stopCheckpoints = startCheckpoints(session, expected);
    // Where this attempt starts: progress counts only the bytes received after it as transferred now.
    deps.onProgress(resumeFrom);
    deps.onDurable?.(resumeFrom, true);
    try {
      await fetchRemaining(session, resumeFrom);
    } finally {
      deps.signal?.removeEventListener('abort', stop);
      await stopCheckpoints();
    }
    // Every write has completed, so the hash has been asked for every byte; the fsync runs while
    // the hash finishes.
    await writer.allWritten();
    deps.onProgress(session.frontier.position);
    const finishing = writer.finish();
    finishing.catch(() => undefined); // awaited below; the hash's failure may come first
    const digest = await hasher.digest();
    try {
      verify(target, digest);
    } catch (error) {
      if (error instanceof IntegrityError && resumeFrom > 0) throw new ResumedIntegrityError(error);
      throw error;
    }
    await finishing;
    const { relativePath } = await deps.store.commitTemp(dataPath, digest.sha256);
    committed = true;
    await deps.partials.forget(target.key);
    return {
      sha256: digest.sha256,
      bytes: target.size - resumeFrom,
      relativePath,
      resumedFrom: resumeFrom,
      connections: session.peakConnections,
    };
  } finally {
    hasher?.dispose();
    if (!committed) await writer.abort();
  }
}

interface Session {
  deps: TransferDeps;
  target: TransferTarget;
  settings: TransferSettings;
  writer: FileWriter;
  frontier: FrontierHasher;
  location: FileLocation | undefined;
  relocating: Promise<FileLocation> | undefined;
  validator: string | null;
  abort: AbortController;
  /** Bytes received over every connection, for the throughput controller. */
  received: number;
  /** Connections that have received bytes at least once, for the throughput controller. */
  streamedConnections: number;
  peakConnections: number;
}

/**
 * The file's size decides, not what remains of it: a resumed file above the threshold is split into
 * chunks like a fresh one, or a takeover would finish a large file on one connection.
 */
function worthParallel(settings: TransferSettings, size: number, remaining: number): boolean {
  return (
    settings.connectionsPerFile > 1 &&
    size >= settings.parallelThresholdBytes &&
    remaining > settings.chunkBytes
  );
}

async function fetchRemaining(session: Session, from: number): Promise<void> {
  const { target, settings } = session;
  if (from >= target.size) return;
  await locate(session, false);
  if (!worthParallel(settings, target.size, target.size - from)) {
    session.peakConnections = 1;
    await fetchSegment(session, { end: target.size - 1, reached: from }, true);
    return;
  }
  const controller = new AdaptiveConcurrency(settings.connectionsPerFile, Date.now());
  let nextChunk = from;
  let active = 0;
  /** The range of the one connection running while the controller wants one: the rest of the file. */
  let lone: SegmentRange | undefined;
  let firstFailure: { error: unknown } | undefined;
  const tasks: Promise<void>[] = [];
  const worker = async () => {
    const connection = { streamed: false };
    try {
      while (nextChunk < target.size && !session.abort.signal.aborted && active <= controller.target) {
        const start = nextChunk;
        // One connection wanted: it streams the rest in one response instead of chunk by chunk
        // (each request waits a round trip), until more connections join and cut it back.
        const alone = controller.target === 1 && active === 1;
        const range: SegmentRange = {
          end: alone
            ? target.size - 1
            : Math.min(start + chunkBytesFor(settings, controller, target.size - start), target.size) - 1,
          reached: start,
        };
        nextChunk = range.end + 1;
        if (alone) lone = range;
        try {
          await fetchSegment(session, range, false, connection);
        } finally {
          if (lone === range) lone = undefined;
        }
      }
    } finally {
      active--;
    }
  };
  /**
   * More connections join a lone one: it keeps one chunk beyond what it has received (its bytes
   * stay next in line for the hash), and the ranges after that are handed out again.
   */
  const cutLone = (range: SegmentRange) => {
    lone = undefined;
    const cut = range.reached + settings.chunkBytes;
    if (cut > range.end) return;
    range.end = cut - 1;
    nextChunk = cut;
  };
  const launch = () => {
    if (lone && active < controller.target) cutLone(lone);
    while (active < controller.target && nextChunk < target.size && !session.abort.signal.aborted) {
      active++;
      session.peakConnections = Math.max(session.peakConnections, active);
      // Each connection's failure is taken as it happens, never left pending behind an earlier
      // connection: the first stops every connection; theirs then only echo the abort.
      tasks.push(
        worker().catch((error: unknown) => {
          firstFailure ??= { error };
          session.abort.abort(error);
        }),
      );
    }
  };
  const sampler = setInterval(() => {
    controller.sample(session.received, Date.now(), active, session.streamedConnections);
    launch();
  }, ADAPT_TICK_MS);
  try {
    launch();
    for (let i = 0; i < tasks.length; i++) {
      await tasks[i];
      // A worker that left because the target shrank may leave chunks behind: keep enough running.
      if (i === tasks.length - 1 && firstFailure === undefined) launch();
    }
    if (firstFailure) throw firstFailure.error;
  } finally {
    clearInterval(sampler);
  }
}

/**
 * The size of the next range of several connections: the configured chunk while the controller
 * probes (its windows need connections to come and go quickly), then up to
 * `MAX_SETTLED_CHUNK_BYTES`, shrinking toward the end of the file so the connections finish together.
 */
function chunkBytesFor(
  settings: TransferSettings,
  controller: AdaptiveConcurrency,
  remaining: number,
): number {
  if (!controller.settled) return settings.chunkBytes;
  const share = Math.floor(remaining / (2 * controller.target));
  return Math.max(settings.chunkBytes, Math.min(MAX_SETTLED_CHUNK_BYTES, share));
}

/** Resolves (or, after a signed URL expired, re-resolves) the download URL once for all connections. */
async function locate(session: Session, again: boolean): Promise<FileLocation> {
  if (session.location && !again) return session.location;
  session.relocating ??= withRetry(
    async () => {
      const { target } = session;
      const location = await session.deps.hub.locateFile(target.repoId, target.commit, target.path);
      if (location.size !== undefined && location.size !== target.size) {
        throw new IntegrityError(
          'size',
          `${target.size} bytes`,
          `${location.size} bytes advertised`,
          target.path,
        );
      }
      return location;
    },
    session.settings.retry,
    (error, attempt, delayMs) => {
      session.deps.metrics.upstreamRetry();
      const what = `resolving ${session.target.path}`;
      const retry = describeUpstreamRetry(error, {
        attempt,
        maxRetries: session.settings.retry.maxRetries,
        delayMs,
        what,
      });
      void (reportUpstreamRetry(retry) ?? session.deps.log(retry.message));
    },
  ).finally(() => {
    session.relocating = undefined;
  });
  session.location = await session.relocating;
  return session.location;
}

/** Fetches `range` from its `reached` byte on, resuming after failures; the range's end may move back. */
async function fetchSegment(
  session: Session,
  range: SegmentRange,
  wholeRest: boolean,
  connection?: { streamed: boolean },
): Promise<void> {
  const { deps, target, settings, frontier, writer } = session;
  let position = range.reached;
  let attempt = 0;
  for (;;) {
    const before = position;
    try {
      await settings.connectionBudget(async () => {
        const location = await locate(session, false);
        const requestedEnd = range.end;
        const upstream = await deps.hub.openUrl(location.url, {
          start: position,
          ...(wholeRest ? {} : { end: requestedEnd }),
          ...(session.validator ? { ifRange: session.validator } : {}),
          signal: session.abort.signal,
        });
        if (upstream.status === 200 && (position > 0 || !wholeRest)) {
          upstream.body.destroy();
          throw new StartOver(
            'upstream sent the whole file instead of the range (it changed, or ignores Range)',
          );
        }
        if (
          upstream.totalSize !== undefined &&
          upstream.totalSize !== target.size &&
          upstream.status === 206
        ) {
          upstream.body.destroy();
          throw new IntegrityError(
            'size',
            `${target.size} bytes`,
            `${upstream.totalSize} bytes`,
            target.path,
          );
        }
        session.validator ??= upstream.etag ?? null;
        // Network chunks are ~64 KiB: gather a few per write. The hash reads them back once the
        // write has completed, so a checkpoint never counts a byte the disk was not given.
        let batch: Buffer[] = [];
        let batchBytes = 0;
        const keep = (bytes: Buffer) => {
          batch.push(bytes);
          batchBytes += bytes.byteLength;
          session.received += bytes.byteLength;
          range.reached = position + batchBytes;
        };
        const flush = async () => {
          if (batchBytes === 0) return;
          const chunks = batch;
          const at = position;
          const bytes = batchBytes;
          batch = [];
          batchBytes = 0;
          await writer.writeAt(chunks, at, () => {
            frontier.written(at, bytes);
            deps.onProgress(frontier.writtenBytes);
          });
          position = at + bytes;
        };
        try {
          for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
            if (connection && !connection.streamed) {
              connection.streamed = true;
              session.streamedConnections++;
            }
            const room = range.end + 1 - (position + batchBytes);
            if (chunk.byteLength > room) {
              upstream.body.destroy();
              if (range.end === requestedEnd) {
                throw new IntegrityError(
                  'size',
                  `${target.size} bytes`,
                  `more than ${target.size}`,
                  target.path,
                );
              }
              // Cut back while streaming: keep what fits; the bytes after it are another range's.
              if (room > 0) keep(chunk.subarray(0, room));
              break;
            }
            keep(chunk);
            if (batchBytes >= WRITE_BATCH_BYTES) await flush();
          }
        } finally {
          // What arrived before a failure is good: keep it, so the retry resumes after it.
          if (!session.abort.signal.aborted) await flush();
        }
      });
      if (position === range.end + 1) return;
      throw new UpstreamError(
        'UPSTREAM_UNAVAILABLE',
        `Upstream closed ${target.path} early at byte ${position}`,
        {
          retryable: true,
        },
      );
    } catch (error) {
      if (session.abort.signal.aborted || error instanceof StartOver) throw error;
      if (position > before) attempt = 0;
      if (!isRetryable(error) || attempt >= settings.retry.maxRetries) throw error;
      attempt++;
      const retryAfter = error instanceof UpstreamError ? error.details.retryAfterSeconds : undefined;
      const delayMs = backoffDelayMs(attempt - 1, settings.retry, retryAfter);
      deps.metrics.upstreamRetry();
      const what = `${target.path} from byte ${position}`;
      const retry = describeUpstreamRetry(error, {
        attempt,
        maxRetries: settings.retry.maxRetries,
        delayMs,
        what,
      });
      await (reportUpstreamRetry(retry) ?? deps.log(retry.message));
      await sleep(delayMs, undefined, deps.signal ? { signal: deps.signal } : {});
      if (error instanceof UpstreamError && error.code === 'UPSTREAM_URL_EXPIRED')
        await locate(session, true);
    }
  }
}

/** Every second: make the hashed prefix durable and record it, so a crash resumes from there. */
function startCheckpoints(session: Session, expected: string): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  let lastSaved = session.frontier.position;
  const save = () => {
    running = running.then(async () => {
      const durable = session.frontier.position;
      if (durable === lastSaved) return;
      try {
        await session.writer.checkpoint();
      } catch {
        return; // the transfer itself reports write failures
      }
      const state: PartialState = {
        version: 1,
        size: session.target.size,
        expected,
        validator: session.validator,
        committedBytes: durable,
      };
      await session.deps.partials.save(session.target.key, state).catch(() => undefined);
      lastSaved = durable;
      session.deps.onDurable?.(durable, false);
    });
  };
  const timer = setInterval(save, CHECKPOINT_INTERVAL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    // One last record, so a failed or cancelled attempt resumes from as far as it got; not after a
    // lost lease, when the partial belongs to the worker that took over.
    if (!session.deps.signal?.aborted || cancelledBy(session.deps.signal)) save();
    await running;
  };
}

function verify(
  target: TransferTarget,
  digest: { sha256: string; gitSha1: string | undefined; size: number },
): void {
  if (digest.size !== target.size) {
    throw new IntegrityError('size', `${target.size} bytes`, `${digest.size} bytes`, target.path);
  }
  if (target.sha256 !== null) {
    if (digest.sha256 !== target.sha256)
      throw new IntegrityError('sha256', target.sha256, digest.sha256, target.path);
  } else if (target.gitOid !== null && digest.gitSha1 !== target.gitOid) {
    throw new IntegrityError('git-sha1', target.gitOid, digest.gitSha1 ?? 'none', target.path);
  }
}
