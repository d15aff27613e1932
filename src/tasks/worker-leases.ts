import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { nowIso } from '../clock.js';
import type { JobsRepository } from '../db/jobs.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';

/** Locks on content being downloaded, so no two workers (or jobs) fetch the same bytes at once. */
export interface ContentLocks {
  /** True when taken; false while another holder has it. */
  tryAcquire(key: string): Promise<boolean>;
  release(key: string): Promise<void>;
}

/**
 * Everything this process holds: the jobs it runs and the content it downloads. One heartbeat renews
 * all of it every third of a lease, so a worker that dies frees its work within one lease period.
 */
export class WorkerLeases implements ContentLocks {
  /** `host:pid:nonce`, shown as a job's `worker`; unique even when pids repeat across machines. */
  readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: Promise<void> = Promise.resolve();

  constructor(
    private readonly jobs: JobsRepository,
    private readonly leases: LeasesRepository,
    readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** When a lease taken or renewed now lapses. */
  leaseUntil(): string {
    return new Date(Date.now() + this.leaseMs).toISOString();
  }

  start(): void {
    this.timer ??= setInterval(
      () => {
        this.heartbeat = this.renew();
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.heartbeat;
  }

  async tryAcquire(key: string): Promise<boolean> {
    return this.leases.acquire(key, this.owner, nowIso(), this.leaseUntil());
  }

  async release(key: string): Promise<void> {
    await this.leases.release(key, this.owner);
  }

  /** Gives back every job and lock this process holds; returns the jobs, now pending again. */
  async releaseAll(): Promise<string[]> {
    const jobIds = await this.jobs.releaseOwned(this.owner, nowIso());
    await this.leases.releaseAll(this.owner);
    return jobIds;
  }

  private async renew(): Promise<void> {
    const until = this.leaseUntil();
    try {
      await this.jobs.renewLeases(this.owner, until);
      await this.leases.renewAll(this.owner, until);
    } catch (error) {
      this.logger.warn({ err: error }, 'lease heartbeat failed; retrying at the next beat');
    }
  }
}
