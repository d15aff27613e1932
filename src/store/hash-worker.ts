import { Worker } from 'node:worker_threads';

/**
 * One worker thread that hashes large downloads, so SHA-256 (about 1 GB/s per core) never runs on
 * the event loop that reads sockets and queues disk writes.
 *
 * It hashes files, not messages of bytes: the download writes each range to the partial file and,
 * once the write has completed and the file's contiguous prefix has grown, asks the worker to hash
 * up to the new end. The worker reads those bytes back (from the page cache, into one reusable
 * buffer) and hashes them. Nothing is copied or held for the hash on the event loop's side, bytes
 * that arrive ahead of the prefix wait on disk instead of in memory, and what is hashed is what was
 * written. Requests are small messages handled in order, so a digest asked for after the last range
 * covers every byte. Several hashes (one per file) share the worker, each by its id.
 *
 * Started lazily by the first large hash, referenced only while a hash is open (an idle worker never
 * keeps a process alive), terminated by `close()`. If the thread dies or a read fails, the hash
 * fails (its `digest()` rejects), so no blob is stored without a verified hash; the next hash
 * starts a new thread if the old one is gone.
 */
export interface HashDigest {
  sha256: string;
  gitSha1: string | undefined;
  size: number;
}

/** Bytes read back per read (one reused buffer on the worker). */
export const HASH_READ_BYTES = 1024 * 1024;

// Plain CommonJS run with `eval`: no file to resolve, the same under tsx, vitest and the build.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const open = new Map();
const buffer = Buffer.allocUnsafe(workerData.readBytes);
function close(hash) {
  if (hash.fd !== undefined) fs.closeSync(hash.fd);
  hash.fd = undefined;
}
function hashTo(hash, end) {
  if (hash.fd === undefined) hash.fd = fs.openSync(hash.path, 'r');
  while (hash.position < end) {
    const length = Math.min(buffer.length, end - hash.position);
    const n = fs.readSync(hash.fd, buffer, 0, length, hash.position);
    if (n === 0) throw new Error(hash.path + ' ends at byte ' + hash.position + ', before ' + end);
    const view = buffer.subarray(0, n);
    hash.sha256.update(view);
    if (hash.gitSha1) hash.gitSha1.update(view);
    hash.position += n;
  }
}
parentPort.on('message', (m) => {
  if (m.op === 'hash') {
    const hash = open.get(m.id);
    if (!hash) return;
    try {
      hashTo(hash, m.end);
    } catch (error) {
      open.delete(m.id);
      try { close(hash); } catch {}
      parentPort.postMessage({ id: m.id, error: error.message });
    }
  } else if (m.op === 'open') {
    open.set(m.id, {
      path: m.path,
      fd: undefined,
      position: 0,
      sha256: createHash('sha256'),
      gitSha1: m.gitBlobSize === undefined ? undefined : createHash('sha1').update('blob ' + m.gitBlobSize + '\\0'),
    });
  } else if (m.op === 'digest') {
    const hash = open.get(m.id);
    if (!hash) return;
    open.delete(m.id);
    close(hash);
    parentPort.postMessage({ id: m.id, sha256: hash.sha256.digest('hex'), gitSha1: hash.gitSha1 && hash.gitSha1.digest('hex') });
  } else if (m.op === 'drop') {
    const hash = open.get(m.id);
    open.delete(m.id);
    if (hash) close(hash);
  } else if (m.op === 'crash') {
    throw new Error(m.message);
  }
});
`;

/** The worker's answers: a digest, or why a hash failed. */
type WorkerMessage = { id: number; sha256?: string; gitSha1?: string; error?: string };

export class HashWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly jobs = new Map<number, WorkerHashJob>();
  private closed = false;

  constructor(readonly readBytes = HASH_READ_BYTES) {}

  /** A new hash of the file at `path` on the worker (starting the thread if none runs). */
  open(path: string, gitBlobSize: number | undefined): WorkerHashJob {
    if (this.closed) throw new Error('the hash worker was closed');
    const worker = this.start();
    const job = new WorkerHashJob(this, this.nextId++);
    this.jobs.set(job.id, job);
    // Referenced while a hash is open: a process waiting only for a digest must not exit.
    if (this.jobs.size === 1) worker.ref();
    worker.postMessage({ op: 'open', id: job.id, path, gitBlobSize });
    return job;
  }

  /** Stops the thread; open hashes fail. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error('the hash worker was closed'));
    await worker.terminate();
  }

  /** For tests: makes the thread throw, as a crash would. */
  crashForTest(): void {
    this.worker?.postMessage({ op: 'crash', message: 'hash worker crashed (test)' });
  }

  /** @internal */
  post(message: { op: 'hash'; id: number; end: number } | { op: 'digest' | 'drop'; id: number }): void {
    if (!this.worker) throw new Error('the hash worker stopped');
    this.worker.postMessage(message);
  }

  /** @internal */
  forget(job: WorkerHashJob): void {
    if (this.jobs.delete(job.id) && this.jobs.size === 0) this.worker?.unref();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: 'model-hub-hash',
      workerData: { readBytes: this.readBytes },
    });
    worker.unref();
    worker.on('message', (message: WorkerMessage) => {
      // A thread that failed may still deliver a late answer: it belongs to no current hash.
      if (this.worker === worker) this.receive(message);
    });
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', (code) => this.fail(worker, new Error(`the hash worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private receive(message: WorkerMessage): void {
    const job = this.jobs.get(message.id);
    if (!job) return;
    this.forget(job);
    if (message.error !== undefined || message.sha256 === undefined) {
      job.failed(new Error(`hashing failed: ${message.error ?? 'the hash worker returned no digest'}`));
    } else {
      job.digested(message.sha256, message.gitSha1);
    }
  }

  /** The thread is gone: every open hash fails, and the next `open` starts a new thread. */
  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.failed(new Error(`hashing failed: ${error.message}`, { cause: error }));
    void worker.terminate();
  }
}

/** One file's hash running on the worker; `FileHasher` drives it. */
export class WorkerHashJob {
  private failure: Error | undefined;
  private finished = false;
  /** How far the hash must reach, and how far the worker has been asked to hash. */
  private wanted = 0;
  private asked = 0;
  private result:
    | { resolve: (d: { sha256: string; gitSha1: string | undefined }) => void; reject: (e: Error) => void }
    | undefined;

  constructor(
    private readonly pool: HashWorker,
    readonly id: number,
  ) {}

  /**
   * Asks for the file's bytes up to `end` (exclusive) to be hashed, after those before. The worker
   * is told once a whole read of new bytes is waiting (and by `digest()` for the rest): one message
   * per read it makes, not per small write.
   */
  hashTo(end: number): void {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('hash already finished');
    this.wanted = Math.max(this.wanted, end);
    if (this.wanted - this.asked >= this.pool.readBytes) this.ask();
  }

  digest(): Promise<{ sha256: string; gitSha1: string | undefined }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.reject(new Error('hash already finished'));
    this.finished = true;
    const result = new Promise<{ sha256: string; gitSha1: string | undefined }>((resolve, reject) => {
      this.result = { resolve, reject };
    });
    try {
      if (this.wanted > this.asked) this.ask();
      this.pool.post({ op: 'digest', id: this.id });
    } catch (error) {
      this.failed(error as Error);
    }
    return result;
  }

  /** Forgets the hash (an abandoned transfer): the worker drops its state and closes the file. */
  dispose(): void {
    if (this.finished) return;
    this.finished = true;
    this.pool.forget(this);
    if (!this.failure) this.pool.post({ op: 'drop', id: this.id });
  }

  private ask(): void {
    this.pool.post({ op: 'hash', id: this.id, end: this.wanted });
    this.asked = this.wanted;
  }

  /** @internal */
  digested(sha256: string, gitSha1: string | undefined): void {
    this.result?.resolve({ sha256, gitSha1 });
    this.result = undefined;
  }

  /** @internal */
  failed(error: Error): void {
    this.failure ??= error;
    this.result?.reject(this.failure);
    this.result = undefined;
  }
}
