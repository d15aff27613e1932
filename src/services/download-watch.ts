import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import { readArtifactProgress } from '../events/artifact-progress.js';
import type { EventBus } from '../events/event-bus.js';
import type { HubEvent } from '../events/hub-event.js';
import { READ_CHUNK_BYTES } from './mirror.service.js';

/**
 * One artifact's download as the engine reports it on the event bus, and a reader of its partial
 * file that follows it: it reads only below the durable offset the engine published (written,
 * contiguous and fsynced), never the file's last byte before the whole file is verified and
 * committed, and fails as soon as the download does. So a client that reads to the end has
 * verified bytes, and one whose download fails sees its response cut short.
 */
export interface DownloadFailure {
  message: string;
  /** The engine's error code (`UPSTREAM_GATED`, `INTEGRITY_MISMATCH`, …) when it gave one. */
  code: string | undefined;
}

/** The download failed, or restarted behind what a reader had already sent. */
export class DownloadBroken extends Error {}

export class DownloadWatch {
  /** The durable prefix the engine last published (0 until it does). */
  durableBytes = 0;
  /** Whether upstream sent bytes since the watch began (a checkpoint, not just an attempt start). */
  receiving = false;
  /** Bumped when the prefix shrank: the partial was discarded and the download started over. */
  restarts = 0;
  committedSha256: string | undefined;
  failure: DownloadFailure | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    readonly artifactId: string,
  ) {
    this.unsubscribe = bus.subscribe((event) => this.receive(event));
  }

  /** Resolves at the next report about this artifact, or after `timeoutMs`. */
  async changed(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      timer = setTimeout(wake, timeoutMs);
    });
    clearTimeout(timer);
  }

  close(): void {
    this.unsubscribe();
    for (const wake of [...this.waiters]) wake();
  }

  private receive(event: HubEvent): void {
    if (event.artifact_id !== this.artifactId) return;
    if (event.type === 'artifact.completed') {
      const sha256 = event.data.sha256;
      if (typeof sha256 === 'string') this.committedSha256 = sha256;
    } else if (event.type === 'artifact.failed') {
      const { error, code } = event.data;
      this.failure = {
        message: typeof error === 'string' ? error : 'the download failed',
        code: typeof code === 'string' ? code : undefined,
      };
    } else {
      const progress = readArtifactProgress(event);
      if (!progress) return;
      if (progress.durableBytes < this.durableBytes) this.restarts++;
      this.durableBytes = progress.durableBytes;
      if (!progress.start) this.receiving = true;
    }
    for (const wake of [...this.waiters]) wake();
  }
}

export interface GrowingFile {
  watch: DownloadWatch;
  /** The partial file the engine writes (temp/<artifact id>.part). */
  partialPath: string;
  /** Where the committed blob of a sha256 is. */
  blobPath: (sha256: string) => string;
  sizeBytes: number;
}

/**
 * Bytes `start..end` (inclusive) of a file that is still downloading: from the partial below the
 * durable offset, then, once the blob is committed, from `blobs/`. Throws DownloadBroken when the
 * download fails, or restarts from below what was already read.
 */
export async function* readGrowingFile(
  file: GrowingFile,
  start: number,
  end: number,
  idleWakeMs = 5000,
): AsyncGenerator<Buffer> {
  const { watch, sizeBytes } = file;
  let position = start;
  let handle: FileHandle | undefined;
  let restarts = watch.restarts;
  try {
    while (position <= end) {
      if (watch.failure) throw new DownloadBroken(watch.failure.message);
      if (watch.committedSha256 !== undefined) {
        await handle?.close();
        handle = undefined;
        yield* readRange(file.blobPath(watch.committedSha256), position, end);
        return;
      }
      if (watch.restarts !== restarts) {
        if (watch.durableBytes < position) {
          throw new DownloadBroken('the download started over behind what was already sent');
        }
        // A discarded partial is a new file at the same path: read the new one.
        await handle?.close();
        handle = undefined;
        restarts = watch.restarts;
      }
      // The last byte is only ever read from the verified blob.
      const limit = Math.min(watch.durableBytes, sizeBytes - 1, end + 1);
      if (position >= limit) {
        await watch.changed(idleWakeMs);
        continue;
      }
      handle ??= await openIfPresent(file.partialPath);
      if (!handle) {
        // Renamed into blobs/ (its completion is on the way) or not created yet.
        await watch.changed(idleWakeMs);
        continue;
      }
      const length = Math.min(limit - position, READ_CHUNK_BYTES);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead < length) throw new DownloadBroken('the partial file is shorter than its durable prefix');
      position += bytesRead;
      yield buffer;
    }
  } finally {
    await handle?.close();
  }
}

async function openIfPresent(file: string): Promise<FileHandle | undefined> {
  try {
    return await fs.open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function* readRange(file: string, start: number, end: number): AsyncGenerator<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    for await (const chunk of handle.createReadStream({
      start,
      end,
      highWaterMark: READ_CHUNK_BYTES,
      autoClose: false,
    })) {
      yield chunk as Buffer;
    }
  } finally {
    await handle.close();
  }
}
