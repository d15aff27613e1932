import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { nowIso } from '../clock.js';
import type { JobLeaseHolder, JobsRepository } from '../db/jobs.repo.js';
import type { LeasesRepository } from '../db/leases.repo.js';
import { databaseOutage } from '../db/outage.js';
import { retryWhileDatabaseDown } from './outage-retry.js';

/**
 * Leases live and die with the handler that holds them. The job runner registers a handler when it
 * claims a job and ends it in a `finally`; the heartbeat renews exactly the job and the content
 * locks of handlers still running, one row at a time. So a handler that dies for any reason stops
 * being renewed and its job lapses within one lease period, for the reaper and the queue's retries
 * to take; and a renewal that finds a lease gone (reaped, or taken by another worker) aborts what
 * depended on it at once, instead of letting two workers write the same partial file.
 */

/** The reason a handler or a transfer was aborted: another worker holds what it was working on. */
export class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

/**
 * The reason a handler was aborted: its job was cancelled. Unlike `LeaseLost`, the job and its
 * partial files are still this handler's: it keeps them resumable and ends the job `cancelled`.
 */
export class JobCancelled extends Error {
  override readonly name = 'JobCancelled';
}

/** Whether `signal` was aborted because its job was cancelled (not because a lease was lost). */
export function cancelledBy(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && signal.reason instanceof JobCancelled;
}

/** One content lock, held by one handler. */
export interface ContentLease {
  /** Aborts when the lock is lost (it lapsed and another worker took it): stop using the content. */
  readonly signal: AbortSignal;
  /** Gives the lock back; never throws (a release the database refuses lets the lock lapse). */
  release(): Promise<void>;
}

/** Locks on content being downloaded, so no two workers (or jobs) fetch the same bytes at once. */
export interface ContentLocks {
  /** The lock when taken; undefined while another holder (another worker, or another job here) has it. */
  tryAcquire(key: string): Promise<ContentLease | undefined>;
}

/** A write the database must not lose to an outage: retried while it is unavailable (see WorkerLeases). */
export type OutageRetry = <T>(what: string, write: () => Promise<T>) => Promise<T>;

/** The leases of one running handler: its job's, and the content locks it takes. */
export class HandlerLease implements ContentLocks, JobLeaseHolder {
  private readonly lost = new AbortController();
  /**
   * Aborts with `LeaseLost` when the job lease is gone (another worker runs the job now), or with
   * `JobCancelled` when the job was cancelled.
   */
  readonly signal = this.lost.signal;
  /** Content keys held, each with the controller that stops its transfer when the lock is lost. */
  readonly content = new Map<string, AbortController>();

  constructor(
    private readonly leases: WorkerLeases,
    readonly jobId: string,
    /** The job's `attempts` after this claim: tells this claim from a later one by the same worker. */
    readonly attempt: number,
  ) {}

  get owner(): string {
    return this.leases.owner;
  }

  tryAcquire(key: string): Promise<ContentLease | undefined> {
    return this.leases.acquireContent(this, key);
  }

  readonly retryOutage: OutageRetry = (what, write) => this.leases.retryOutage(what, write);

  /** Called by the heartbeat when the job row no longer names this claim. */
  abandon(): void {
    this.lost.abort(new LeaseLost(`The lease of job ${this.jobId} was lost; another worker runs it now`));
  }

  /** Stops the handler because its job was cancelled (a no-op once aborted for any reason). */
  cancel(): void {
    this.lost.abort(new JobCancelled(`Job ${this.jobId} was cancelled`));
  }
}

/**
 * This process's leases: its identity, the handlers it runs and the heartbeat that keeps their
 * leases (and only theirs) alive, every third of a lease.
 */
export class WorkerLeases {
  /** `host:pid:nonce`, shown as a job's `worker`; unique even when pids repeat across machines. */
  readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  /**
   * How long a write is retried while the database is down before the handler gives up (ms): long
   * past the point where its lease would be reaped anyway, so giving up loses nothing a retry of
   * the job cannot redo (a stored blob is reused, a partial file resumed).
   */
  readonly outageRetryMs: number;
  private readonly handlers = new Set<HandlerLease>();
  /** Content key → the handler of this process holding it (the database row names only the process). */
  private readonly contentHolders = new Map<string, HandlerLease>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly jobs: JobsRepository,
    private readonly leases: LeasesRepository,
    readonly leaseMs: number,
    private readonly logger: Logger,
  ) {
    this.outageRetryMs = Math.max(60_000, 10 * leaseMs);
  }

  /** When a lease taken or renewed now lapses. */
  leaseUntil(): string {
    return new Date(Date.now() + this.leaseMs).toISOString();
  }

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(
      () => {
        // A beat still waiting on the database is not doubled up.
        this.heartbeat ??= this.renew().finally(() => {
          this.heartbeat = undefined;
        });
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.heartbeat;
  }

  /** Registers the handler of a job just claimed (`attempt`: the job's attempts after the claim). */
  hold(jobId: string, attempt: number): HandlerLease {
    const lease = new HandlerLease(this, jobId, attempt);
    this.handlers.add(lease);
    return lease;
  }

  /**
   * A cancel of `jobId` was asked for: the handlers of this process running it stop at once (their
   * transfers abort, partial files stay). Returns how many there were (0 when another process runs it).
   */
  cancel(jobId: string): number {
    let stopped = 0;
    for (const handler of this.handlers) {
      if (handler.jobId !== jobId || handler.signal.aborted) continue;
      this.logger.info({ jobId }, 'job cancelled; stopping its handler');
      handler.cancel();
      stopped++;
    }
    return stopped;
  }

  /** The handler ended, however: nothing of it is renewed any more. */
  end(lease: HandlerLease): void {
    this.handlers.delete(lease);
    for (const key of lease.content.keys()) {
      if (this.contentHolders.get(key) === lease) this.contentHolders.delete(key);
    }
    lease.content.clear();
  }

  async acquireContent(lease: HandlerLease, key: string): Promise<ContentLease | undefined> {
    if (this.contentHolders.has(key)) return undefined;
    // Reserved before the await, so two handlers of this process cannot both take it.
    this.contentHolders.set(key, lease);
    let taken = false;
    try {
      taken = await this.leases.acquire(key, this.owner, nowIso(), this.leaseUntil());
    } finally {
      if (!taken) this.contentHolders.delete(key);
    }
    if (!taken) return undefined;
    const lost = new AbortController();
    lease.content.set(key, lost);
    return { signal: lost.signal, release: () => this.releaseContent(lease, key) };
  }

  /** Retries `write` while the database is unavailable, up to `outageRetryMs`; logs the first retry. */
  retryOutage<T>(what: string, write: () => Promise<T>): Promise<T> {
    return retryWhileDatabaseDown(write, {
      giveUpAfterMs: this.outageRetryMs,
      onRetry: (reason, attempt, delayMs) => {
        const line = { what, reason, attempt, delayMs };
        if (attempt === 1) this.logger.warn(line, 'database unavailable; retrying a write');
        else this.logger.debug(line, 'database unavailable; retrying a write');
      },
    });
  }

  /** Gives back every job and lock this process holds; returns the jobs, now pending again. */
  async releaseAll(): Promise<string[]> {
    const jobIds = await this.jobs.releaseOwned(this.owner, nowIso());
    await this.leases.releaseAll(this.owner);
    return jobIds;
  }

  /**
   * Stops renewing the key at once, then deletes its row. When the database refuses, the lock lapses
   * within one lease period anyway; the delete is retried in the background so it goes sooner, unless
   * a handler here takes the key again meanwhile.
   */
  private async releaseContent(lease: HandlerLease, key: string): Promise<void> {
    lease.content.delete(key);
    if (this.contentHolders.get(key) === lease) this.contentHolders.delete(key);
    try {
      await this.leases.release(key, this.owner);
    } catch (error) {
      if (databaseOutage(error) === undefined) {
        this.logger.warn({ err: error, key }, 'could not release a content lock; it lapses within one lease');
        return;
      }
      const retried = retryWhileDatabaseDown(
        async () => {
          if (!this.contentHolders.has(key)) await this.leases.release(key, this.owner);
        },
        { giveUpAfterMs: this.outageRetryMs, keepTrying: () => !this.stopped },
      );
      retried.catch((late: unknown) =>
        this.logger.warn({ err: late, key }, 'could not release a content lock; it lapses within one lease'),
      );
    }
  }

  /** One beat: each live handler's job lease, then its content locks, one row at a time. */
  private async renew(): Promise<void> {
    try {
      for (const handler of [...this.handlers]) {
        if (handler.signal.aborted) continue;
        const until = this.leaseUntil();
        const renewal = await this.jobs.renewLease(handler.jobId, handler, until);
        if (renewal === 'lost') {
          this.logger.warn({ jobId: handler.jobId }, 'job lease lost; stopping its handler');
          handler.abandon();
          continue;
        }
        // The cancel signal on the event bus did not reach this process (or came before the handler).
        if (renewal === 'cancel-requested') {
          this.cancel(handler.jobId);
          continue;
        }
        for (const [key, lost] of [...handler.content]) {
          if (lost.signal.aborted) continue;
          if (!(await this.leases.renew(key, this.owner, until))) {
            this.logger.warn({ jobId: handler.jobId, key }, 'content lock lost; stopping its transfer');
            lost.abort(new LeaseLost(`The lock on ${key} was lost; another worker downloads it now`));
          }
        }
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'lease heartbeat failed; retrying at the next beat');
    }
  }
}
