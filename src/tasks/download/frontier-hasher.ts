import type { ContentHasher } from '../../store/content-hasher.js';

/**
 * One hash over a file whose parts arrive out of order: bytes at the frontier are hashed at once
 * and the frontier advances; bytes beyond it wait in memory until the gap before them closes.
 * `waitForRoom` bounds that memory, always letting the frontier's own bytes through, and holds the
 * frontier's bytes back while the hasher (a worker thread) has fallen behind.
 */
export class FrontierHasher {
  private readonly waiting = new Map<number, Uint8Array>();
  private waitingBytes = 0;
  private readonly roomWaiters = new Set<() => void>();

  constructor(
    private readonly hasher: ContentHasher,
    private frontier: number,
    private readonly maxWaitingBytes: number,
  ) {}

  get position(): number {
    return this.frontier;
  }

  get bufferedBytes(): number {
    return this.waitingBytes;
  }

  submit(offset: number, chunk: Uint8Array): void {
    if (offset < this.frontier)
      throw new Error(`bytes at ${offset} arrived twice (frontier ${this.frontier})`);
    if (offset > this.frontier) {
      this.waiting.set(offset, chunk);
      this.waitingBytes += chunk.byteLength;
      return;
    }
    this.hasher.update(chunk);
    this.frontier += chunk.byteLength;
    for (let next = this.waiting.get(this.frontier); next; next = this.waiting.get(this.frontier)) {
      this.waiting.delete(this.frontier);
      this.waitingBytes -= next.byteLength;
      this.hasher.update(next);
      this.frontier += next.byteLength;
    }
    for (const wake of this.roomWaiters) wake();
    this.roomWaiters.clear();
  }

  async waitForRoom(offset: number, signal?: AbortSignal): Promise<void> {
    // Only bytes at the frontier reach the hasher now; bytes beyond it wait here under their own
    // bound, so a connection ahead never stalls behind the hash of a burst the frontier released.
    if (offset === this.frontier) await this.hasher.waitForRoom(signal);
    while (offset !== this.frontier && this.waitingBytes >= this.maxWaitingBytes) {
      if (signal?.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.roomWaiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.roomWaiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }
}
