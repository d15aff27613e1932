import { Worker } from 'node:worker_threads';

/**
 * One worker thread that hashes large downloads, so SHA-256 (about 1 GB/s per core) never runs on
 * the event loop that reads sockets and queues disk writes.
 *
 * Bytes reach it through a pool of SharedArrayBuffer slots: `ContentHasher.update` copies each
 * received chunk into the current slot (network chunks are slices of buffers the socket reuses, and
 * the same chunk is still queued for the disk, so they cannot be transferred), and a full slot is
 * posted as one message (~1 MiB). The worker hashes the slot in place and acknowledges it; the
 * thread posts in order, so acknowledgements come back in the order slots were sent and one FIFO
 * returns each slot to the pool. Several hashes (one per file) share the worker, each by its id.
 *
 * Started lazily by the first large hash, referenced only while a hash is open (an idle worker never
 * keeps a process alive), terminated by
 * `close()`. If the thread dies, every open hash fails (its `digest()` rejects), so no blob is
 * stored without a verified hash; the next hash starts a new thread.
 */
export interface HashDigest {
  sha256: string;
  gitSha1: string | undefined;
  size: number;
}

/** Size of one slot: one message to the worker. Larger slots do not hash faster; they hold more memory. */
export const HASH_SLOT_BYTES = 1024 * 1024;
/** Slots kept for reuse when idle (the rest are left to the garbage collector). */
const MAX_IDLE_SLOTS = 16;

// Plain CommonJS run with `eval`: no file to resolve, the same under tsx, vitest and the build.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const open = new Map();
const slots = [];
parentPort.on('message', (m) => {
  if (m.op === 'data') {
    const hash = open.get(m.id);
    if (hash) {
      const view = slots[m.slot].subarray(0, m.length);
      hash.sha256.update(view);
      if (hash.gitSha1) hash.gitSha1.update(view);
    }
    parentPort.postMessage(m.slot);
  } else if (m.op === 'slot') {
    slots[m.slot] = m.buffer === undefined ? undefined : new Uint8Array(m.buffer);
  } else if (m.op === 'open') {
    open.set(m.id, {
      sha256: createHash('sha256'),
      gitSha1: m.gitBlobSize === undefined ? undefined : createHash('sha1').update('blob ' + m.gitBlobSize + '\\0'),
    });
  } else if (m.op === 'digest') {
    const hash = open.get(m.id);
    open.delete(m.id);
    if (!hash) parentPort.postMessage({ id: m.id, error: 'unknown hash ' + m.id });
    else parentPort.postMessage({ id: m.id, sha256: hash.sha256.digest('hex'), gitSha1: hash.gitSha1 && hash.gitSha1.digest('hex') });
  } else if (m.op === 'drop') {
    open.delete(m.id);
  } else if (m.op === 'crash') {
    throw new Error(m.message);
  }
});
`;

/** The worker's answers: a slot index (that slot is hashed and free again), or a digest. */
type WorkerMessage = number | { id: number; sha256?: string; gitSha1?: string; error?: string };

interface Sent {
  slot: number;
  job: WorkerHashJob;
  bytes: number;
}

export class HashWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly jobs = new Map<number, WorkerHashJob>();
  /** Slots posted and not yet acknowledged, in the order they were posted. */
  private sent: Sent[] = [];
  private sentHead = 0;
  /** Every slot the worker knows (by index), and which of them are free. */
  private slots: (Uint8Array | undefined)[] = [];
  private idleSlots: number[] = [];
  /** Which thread this is (a new one after a failure): slots of an older one are never reused. */
  private generation = 0;
  private closed = false;

  constructor(readonly slotBytes = HASH_SLOT_BYTES) {}

  /** A new hash on the worker (starting the thread if none runs). */
  open(gitBlobSize: number | undefined): WorkerHashJob {
    if (this.closed) throw new Error('the hash worker was closed');
    const worker = this.start();
    const job = new WorkerHashJob(this, this.nextId++, this.generation);
    this.jobs.set(job.id, job);
    // Referenced while a hash is open: a process waiting only for a digest must not exit.
    if (this.jobs.size === 1) worker.ref();
    worker.postMessage({ op: 'open', id: job.id, gitBlobSize });
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

  /** @internal A free slot (index and view), registered with the worker. */
  takeSlot(): { index: number; view: Uint8Array } {
    const worker = this.requireWorker();
    let index = this.idleSlots.pop();
    if (index === undefined) {
      index = this.slots.indexOf(undefined);
      if (index < 0) index = this.slots.length;
      const buffer = new SharedArrayBuffer(this.slotBytes);
      this.slots[index] = new Uint8Array(buffer);
      worker.postMessage({ op: 'slot', slot: index, buffer });
    }
    return { index, view: this.slots[index] as Uint8Array };
  }

  /** @internal */
  send(job: WorkerHashJob, slot: number, length: number): void {
    const worker = this.requireWorker();
    this.sent.push({ slot, job, bytes: length });
    worker.postMessage({ op: 'data', id: job.id, slot, length });
  }

  /** @internal */
  requestDigest(job: WorkerHashJob): void {
    this.requireWorker().postMessage({ op: 'digest', id: job.id });
  }

  /** @internal */
  drop(job: WorkerHashJob, slot: number | undefined): void {
    this.forget(job);
    if (slot !== undefined && job.generation === this.generation) this.release(slot);
    this.worker?.postMessage({ op: 'drop', id: job.id });
  }

  private requireWorker(): Worker {
    if (!this.worker) throw new Error('the hash worker stopped');
    return this.worker;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'model-hub-hash' });
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

  private forget(job: WorkerHashJob): void {
    if (this.jobs.delete(job.id) && this.jobs.size === 0) this.worker?.unref();
  }

  /** A slot back in the pool; beyond the idle allowance its memory is given back. */
  private release(slot: number): void {
    if (this.idleSlots.length < MAX_IDLE_SLOTS) {
      this.idleSlots.push(slot);
      return;
    }
    this.slots[slot] = undefined;
    this.worker?.postMessage({ op: 'slot', slot, buffer: undefined });
  }

  private receive(message: WorkerMessage): void {
    if (typeof message === 'number') {
      const done = this.sent[this.sentHead];
      if (!done) return;
      this.sent[this.sentHead++] = undefined as unknown as Sent;
      if (this.sentHead > 1024 && this.sentHead * 2 > this.sent.length) {
        this.sent = this.sent.slice(this.sentHead);
        this.sentHead = 0;
      }
      this.release(done.slot);
      done.job.acknowledged(done.bytes);
      return;
    }
    const job = this.jobs.get(message.id);
    if (!job) return;
    this.forget(job);
    if (message.error !== undefined || message.sha256 === undefined) {
      job.failed(new Error(message.error ?? 'the hash worker returned no digest'));
    } else {
      job.digested(message.sha256, message.gitSha1);
    }
  }

  /** The thread is gone: every open hash fails, and the next `open` starts a new thread. */
  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.sent = [];
    this.sentHead = 0;
    this.slots = [];
    this.idleSlots = [];
    this.generation++;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.failed(new Error(`hashing failed: ${error.message}`, { cause: error }));
    void worker.terminate();
  }
}

/** One hash running on the worker; `ContentHasher` drives it. */
export class WorkerHashJob {
  private slot: number | undefined;
  private slotView: Uint8Array | undefined;
  private fill = 0;
  /** Bytes posted to the worker and not yet hashed by it. */
  private pendingBytes = 0;
  private failure: Error | undefined;
  private finished = false;
  private roomWaiters: { limit: number; wake: () => void }[] = [];
  private result:
    | { resolve: (d: { sha256: string; gitSha1: string | undefined }) => void; reject: (e: Error) => void }
    | undefined;

  constructor(
    private readonly pool: HashWorker,
    readonly id: number,
    readonly generation: number,
  ) {}

  get backlogBytes(): number {
    return this.pendingBytes + this.fill;
  }

  update(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.finished) throw new Error('hash already finished');
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.slot === undefined || !this.slotView) {
        const { index, view } = this.pool.takeSlot();
        this.slot = index;
        this.slotView = view;
        this.fill = 0;
      }
      const n = Math.min(chunk.byteLength - offset, this.slotView.byteLength - this.fill);
      this.slotView.set(
        offset === 0 && n === chunk.byteLength ? chunk : chunk.subarray(offset, offset + n),
        this.fill,
      );
      this.fill += n;
      offset += n;
      if (this.fill === this.slotView.byteLength) this.post();
    }
  }

  /** Resolves once at most `limitBytes` wait to be hashed (rejects if the worker failed). */
  async waitForRoom(limitBytes: number, signal?: AbortSignal): Promise<void> {
    while (!this.failure && this.pendingBytes > limitBytes) {
      if (signal?.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const waiter = {
          limit: limitBytes,
          wake: () => {
            signal?.removeEventListener('abort', waiter.wake);
            resolve();
          },
        };
        this.roomWaiters.push(waiter);
        signal?.addEventListener('abort', waiter.wake, { once: true });
      });
    }
    if (this.failure) throw this.failure;
  }

  digest(): Promise<{ sha256: string; gitSha1: string | undefined }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.reject(new Error('hash already finished'));
    this.finished = true;
    const result = new Promise<{ sha256: string; gitSha1: string | undefined }>((resolve, reject) => {
      this.result = { resolve, reject };
    });
    try {
      if (this.fill > 0) this.post();
      this.pool.requestDigest(this);
    } catch (error) {
      this.failed(error as Error);
    }
    return result;
  }

  /** Forgets the hash (an abandoned transfer): the worker drops its state. */
  dispose(): void {
    if (this.finished) return;
    this.finished = true;
    const slot = this.slot;
    this.slot = undefined;
    this.slotView = undefined;
    this.fill = 0;
    this.pool.drop(this, slot);
  }

  /** @internal */
  acknowledged(bytes: number): void {
    this.pendingBytes -= bytes;
    this.wakeWaiters();
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
    this.wakeWaiters(true);
  }

  private post(): void {
    const slot = this.slot as number;
    const length = this.fill;
    this.slot = undefined;
    this.slotView = undefined;
    this.fill = 0;
    this.pendingBytes += length;
    this.pool.send(this, slot, length);
  }

  private wakeWaiters(all = false): void {
    if (this.roomWaiters.length === 0) return;
    const waiting = this.roomWaiters;
    this.roomWaiters = [];
    for (const waiter of waiting) {
      if (all || this.pendingBytes <= waiter.limit) waiter.wake();
      else this.roomWaiters.push(waiter);
    }
  }
}
