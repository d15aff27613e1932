import type { FileHasher } from '../../store/file-hasher.js';

/**
 * One hash over a file whose ranges are written out of order: when a write completes at the
 * frontier, the frontier advances over it and over every completed write right after it, and the
 * hash is asked to cover the file up to there (it reads the bytes back from the file). Writes that
 * complete ahead of the frontier are remembered by their offsets only; their bytes wait on disk.
 */
export class FrontierHasher {
  /** Completed writes ahead of the frontier: start offset → end offset. */
  private readonly ahead = new Map<number, number>();
  private aheadBytes = 0;

  constructor(
    private readonly hasher: FileHasher,
    private frontier: number,
  ) {}

  /** How far the file is written without a gap, and handed to the hash. */
  get position(): number {
    return this.frontier;
  }

  /** Every byte written so far, with those ahead of the frontier (what a progress bar shows). */
  get writtenBytes(): number {
    return this.frontier + this.aheadBytes;
  }

  /** Records that `bytes` bytes at `offset` are written (their write completed). */
  written(offset: number, bytes: number): void {
    if (offset < this.frontier || this.ahead.has(offset))
      throw new Error(`bytes at ${offset} were written twice (frontier ${this.frontier})`);
    if (offset > this.frontier) {
      this.ahead.set(offset, offset + bytes);
      this.aheadBytes += bytes;
      return;
    }
    let end = offset + bytes;
    for (let next = this.ahead.get(end); next !== undefined; next = this.ahead.get(end)) {
      this.ahead.delete(end);
      this.aheadBytes -= next - end;
      end = next;
    }
    this.frontier = end;
    this.hasher.hashTo(end);
  }
}
