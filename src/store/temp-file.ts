import fs from 'node:fs/promises';

const FLUSH_BYTES = 1024 * 1024;

/**
 * Sequential writer for a temp file: buffers small network chunks into ~1 MiB `writev` calls, and
 * `finish()` fsyncs before closing, so a file that reaches `commitTemp` is on disk.
 */
export class TempFileWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
  ) {}

  static async create(path: string): Promise<TempFileWriter> {
    return new TempFileWriter(path, await fs.open(path, 'wx'));
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    await this.close();
  }

  /** Closes without syncing; the caller deletes the file. */
  async abort(): Promise<void> {
    await this.close();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const buffers = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle.writev(buffers);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
