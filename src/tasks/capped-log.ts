import type { BlobStore, StoredFile } from '../store/blob-store.js';

/** Findings logged individually per kind; the counts in a job's result are always complete. */
const MAX_LOGGED_PER_KIND = 50;

/** Job logs stay readable on a store with thousands of findings: the first few per kind, then a note. */
export class CappedLog {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly log: (message: string) => Promise<void>,
    private readonly maxPerKind = MAX_LOGGED_PER_KIND,
  ) {}

  async line(kind: string, message: string): Promise<void> {
    const count = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, count);
    if (count <= this.maxPerKind) await this.log(message);
    else if (count === this.maxPerKind + 1) {
      await this.log(`(further "${kind}" findings not listed; the result has the counts)`);
    }
  }
}

/**
 * The blobs in the store named by their sha256; anything else in blobs/sha256/ is counted in
 * `result.unexpected_files`, logged, and left alone.
 */
export async function* sha256Blobs(
  store: BlobStore,
  result: { unexpected_files: number },
  logger: CappedLog,
): AsyncGenerator<{ sha256: string } & StoredFile> {
  for await (const entry of store.listBlobs()) {
    if (entry.kind === 'blob') {
      const { kind: _, ...blob } = entry;
      yield blob;
      continue;
    }
    result.unexpected_files++;
    await logger.line(
      'unexpected',
      `Unexpected entry blobs/sha256/${entry.name} (not a sha256 file; left alone)`,
    );
  }
}
