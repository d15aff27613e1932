import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Db } from './connection.js';
import type { Database, JobRow, JobStatus, JobType } from './schema.js';

export interface JobListFilter {
  status?: JobStatus;
  type?: JobType;
  limit: number;
  /** Keyset position: strictly older than this (createdAt, id). */
  before?: { createdAt: string; id: string };
}

/** The columns a job list shows (`JobRow` without the bookkeeping of leases, dedup and logs). */
export const JOB_LIST_COLUMNS = [
  'id',
  'type',
  'status',
  'payload',
  'result',
  'error',
  'progress',
  'attempts',
  'leaseOwner',
  'retryOf',
  'cancelRequestedAt',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
] as const satisfies readonly (keyof JobRow)[];

export type JobListRow = Pick<JobRow, (typeof JOB_LIST_COLUMNS)[number]>;

export interface NewJob {
  id: string;
  type: JobType;
  payload: string;
  createdAt: string;
  dedupKey?: string | null;
  idempotencyKey?: string | null;
  requestFingerprint?: string | null;
  retryOf?: string | null;
  /** JSON progress before the job starts (its totals, when known). */
  progress?: string | null;
}

/** Who holds a running job: the worker, and which of its claims (`attempts` after that claim). */
export interface JobLeaseHolder {
  owner: string;
  attempt: number;
}

/** A running job the reaper took back from a worker whose lease lapsed. */
/** A claim that succeeded; `takenBack` when it took a running job whose lease had lapsed. */
export interface JobClaim {
  takenBack: { from: string | null; leaseExpiredAt: string | null } | null;
}

export interface ReclaimedJob {
  id: string;
  /** Claims so far: the queue offers the job's next attempt under a new entry. */
  attempts: number;
  /** The worker that held it (`host:pid:nonce`); null for a running job that had no holder. */
  previousOwner: string | null;
  /** When that worker's lease lapsed; null for a running job that had no lease. */
  leaseExpiredAt: string | null;
}

/** What a heartbeat found: the lease renewed, renewed with a cancel asked for, or gone. */
export type LeaseRenewal = 'renewed' | 'cancel-requested' | 'lost';

/** A job ended `cancelled`, as its `job.cancelled` event needs it. */
export type CancelledJob = Pick<JobRow, 'id' | 'type' | 'payload'>;

/** A job to offer to the queue, with its claims so far (see `JobQueue.enqueue`). */
export interface QueueOffer {
  id: string;
  attempts: number;
}

export interface JobLogLine {
  at: string;
  message: string;
}

/** A stored line with its number: the n-th line the job wrote, counting from 1. */
export interface NumberedLogLine extends JobLogLine {
  seq: number;
}

/**
 * A job keeps the first LOG_HEAD_LINES and the last LOG_TAIL_LINES lines it writes: the start says
 * what it set out to do, the end how it finished. Without a bound, a job that logs once per file of
 * a huge tree (an import of /usr wrote 125,603 lines) grows its log, and every read of it, without
 * limit. `jobs.log_lines` counts every line, so readers know how many were dropped in between.
 */
export const LOG_HEAD_LINES = 200;
export const LOG_TAIL_LINES = 800;
/**
 * Lines that left the tail are deleted this many at a time: one delete per batch rather than per
 * line keeps an append at two statements. Readers skip them meanwhile (see `logLines`).
 */
export const LOG_TRIM_BATCH = 100;

export class JobsRepository {
  constructor(private readonly db: Db) {}

  /** The same repository inside a transaction (see EventLog.commit). */
  in(trx: Db): JobsRepository {
    return new JobsRepository(trx);
  }

  /**
   * A new pending job, or undefined when the unique indexes refuse it: an active job holds the same
   * `dedupKey`, or a job holds the same `idempotencyKey`. The index decides, so concurrent inserts in
   * any number of processes create one job and never fail with a constraint error.
   */
  async insert(job: NewJob): Promise<JobRow | undefined> {
    return this.db
      .insertInto('jobs')
      .values({ ...job, status: 'pending', updatedAt: job.createdAt })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(filter: JobListFilter): Promise<JobListRow[]> {
    let query = this.db.selectFrom('jobs').select(JOB_LIST_COLUMNS);
    if (filter.status) query = query.where('status', '=', filter.status);
    if (filter.type) query = query.where('type', '=', filter.type);
    const before = filter.before;
    if (before) {
      query = query.where((eb) =>
        eb.or([
          eb('createdAt', '<', before.createdAt),
          eb.and([eb('createdAt', '=', before.createdAt), eb('id', '<', before.id)]),
        ]),
      );
    }
    return query.orderBy('createdAt', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  }

  /** The pending or running job holding `dedupKey`, if any (the unique index allows one). */
  async findActive(dedupKey: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupKey', '=', dedupKey)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
  }

  async findByIdempotencyKey(key: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('idempotencyKey', '=', key).executeTakeFirst();
  }

  /** Jobs a crash left behind, oldest first. */
  async listUnfinished(): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', 'in', ['pending', 'running'])
      .orderBy('createdAt')
      .orderBy('id')
      .execute();
  }

  /**
   * Moves a job to running under `owner`'s lease: a pending job, or a running one whose holder
   * stopped renewing. Undefined when a live worker holds it or it is finished. A running job taken
   * directly (a queue redelivery beat the reaper) reports whose lease lapsed and when, so the claim
   * announces the takeover as the reaper would have.
   */
  async claim(id: string, owner: string, at: string, leaseUntil: string): Promise<JobClaim | undefined> {
    const seen = await this.db
      .selectFrom('jobs')
      .select(['status', 'leaseOwner', 'leaseExpiresAt', 'attempts'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!seen) return undefined;
    const lapsed = seen.status === 'running' && seen.leaseExpiresAt !== null && seen.leaseExpiresAt < at;
    if (seen.status !== 'pending' && !lapsed) return undefined;
    const result = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running',
        startedAt: at,
        updatedAt: at,
        attempts: eb('attempts', '+', 1),
        leaseOwner: owner,
        leaseExpiresAt: leaseUntil,
        takenOverFrom: lapsed ? seen.leaseOwner : eb.ref('takenOverFrom'),
      }))
      .where('id', '=', id)
      // A job whose cancel was asked for is never run again (see endCancelRequested).
      .where('cancelRequestedAt', 'is', null)
      // Exactly the state read above: a reaper or another worker that moved it first wins.
      .where('status', '=', seen.status)
      .where('attempts', '=', seen.attempts)
      .$if(lapsed, (qb) => qb.where('leaseExpiresAt', '<', at))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    return { takenBack: lapsed ? { from: seen.leaseOwner, leaseExpiredAt: seen.leaseExpiresAt } : null };
  }

  /**
   * The heartbeat of one running handler: pushes out its job's lease. `lost` when the lease is gone
   * (reaped, or claimed again: `attempt` tells two claims by the same worker apart);
   * `cancel-requested` when a cancel was asked for (the handler stops even if the signal on the event
   * bus did not reach it).
   */
  async renewLease(id: string, lease: JobLeaseHolder, until: string): Promise<LeaseRenewal> {
    const row = await this.db
      .updateTable('jobs')
      .set({ leaseExpiresAt: until })
      .where('id', '=', id)
      .where('leaseOwner', '=', lease.owner)
      .where('attempts', '=', lease.attempt)
      .where('status', '=', 'running')
      .returning('cancelRequestedAt')
      .executeTakeFirst();
    if (!row) return 'lost';
    return row.cancelRequestedAt === null ? 'renewed' : 'cancel-requested';
  }

  /** A pending job ends `cancelled` at once; undefined when it is not pending (any more). */
  async cancelPending(id: string, at: string): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({ status: 'cancelled', finishedAt: at, updatedAt: at, leaseOwner: null, leaseExpiresAt: null })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Marks a running job's cancel as asked for (the first ask's time is kept); undefined when it is not
   * running (any more). Its worker ends it, or `endCancelRequested` once no live worker holds it.
   */
  async requestCancel(id: string, at: string): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set((eb) => ({ cancelRequestedAt: eb.fn.coalesce('cancelRequestedAt', eb.val(at)), updatedAt: at }))
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Jobs whose cancel was asked for and that no live worker holds (its lease lapsed, it died, or it
   * handed the job back) end `cancelled` instead of running again; only `id` with one. Returns them.
   */
  async endCancelRequested(at: string, id?: string): Promise<CancelledJob[]> {
    let query = this.db
      .updateTable('jobs')
      .set({ status: 'cancelled', finishedAt: at, updatedAt: at, leaseOwner: null, leaseExpiresAt: null })
      .where('cancelRequestedAt', 'is not', null)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb.and([
            eb('status', '=', 'running'),
            eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', at)]),
          ]),
        ]),
      );
    if (id !== undefined) query = query.where('id', '=', id);
    return query.returning(['id', 'type', 'payload']).execute();
  }

  /**
   * Running jobs whose worker stopped heartbeating go back to pending, remembering that worker in
   * `takenOverFrom`. Each row is re-checked by the update, so a job some worker claimed between the
   * look and the update stays with it.
   */
  async reapExpired(at: string): Promise<ReclaimedJob[]> {
    const lapsed = (eb: ExpressionBuilder<Database, 'jobs'>) =>
      eb.and([
        eb('status', '=', 'running'),
        // Those end cancelled instead (endCancelRequested).
        eb('cancelRequestedAt', 'is', null),
        eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', at)]),
      ]);
    const candidates = await this.db
      .selectFrom('jobs')
      .select(['id', 'attempts', 'leaseOwner', 'leaseExpiresAt'])
      .where(lapsed)
      .execute();
    if (candidates.length === 0) return [];
    const reaped = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'pending',
        leaseOwner: null,
        leaseExpiresAt: null,
        updatedAt: at,
        takenOverFrom: eb.ref('leaseOwner'),
      }))
      .where(
        'id',
        'in',
        candidates.map((c) => c.id),
      )
      .where(lapsed)
      .returning(['id', 'attempts', 'takenOverFrom'])
      .execute();
    const looked = new Map(candidates.map((c) => [c.id, c]));
    return reaped.map((row) => {
      const seen = looked.get(row.id);
      return {
        id: row.id,
        attempts: row.attempts,
        previousOwner: row.takenOverFrom,
        leaseExpiredAt: seen?.attempts === row.attempts ? seen.leaseExpiresAt : null,
      };
    });
  }

  /** Hands `owner`'s running jobs back (shutdown past its deadline); returns their ids. */
  async releaseOwned(owner: string, at: string): Promise<string[]> {
    return this.runningBackToPending(at, (eb) => eb('leaseOwner', '=', owner));
  }

  private async runningBackToPending(
    at: string,
    which: (eb: ExpressionBuilder<Database, 'jobs'>) => Expression<SqlBool>,
  ): Promise<string[]> {
    const rows = await this.db
      .updateTable('jobs')
      .set({ status: 'pending', leaseOwner: null, leaseExpiresAt: null, takenOverFrom: null, updatedAt: at })
      .where('status', '=', 'running')
      .where(which)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Pending jobs untouched since `before`, oldest first: re-offered in case their queue entry was lost. */
  async listStalePending(before: string, limit: number): Promise<QueueOffer[]> {
    return this.db
      .selectFrom('jobs')
      .select(['id', 'attempts'])
      .where('status', '=', 'pending')
      .where('updatedAt', '<', before)
      .orderBy('createdAt')
      .limit(limit)
      .execute();
  }

  /** Embedded mode only: this process is the sole worker, so every running job is an orphan. */
  async requeueRunning(at: string): Promise<number> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: 'pending', leaseOwner: null, leaseExpiresAt: null, takenOverFrom: null, updatedAt: at })
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The bounded-rate progress write of a running job (JSON). */
  async setProgress(id: string, progress: string): Promise<void> {
    await this.db.updateTable('jobs').set({ progress }).where('id', '=', id).execute();
  }

  /**
   * Writes a job's final state. With `lease`, only while that lease still holds the job: false when
   * another worker took it meanwhile, and nothing is written.
   */
  async finish(
    id: string,
    outcome: {
      status: 'completed' | 'failed' | 'cancelled';
      result?: string;
      error?: string;
      progress?: string;
      at: string;
    },
    lease?: JobLeaseHolder,
  ): Promise<boolean> {
    let query = this.db
      .updateTable('jobs')
      .set({
        status: outcome.status,
        result: outcome.result ?? null,
        error: outcome.error ?? null,
        ...(outcome.progress === undefined ? {} : { progress: outcome.progress }),
        finishedAt: outcome.at,
        updatedAt: outcome.at,
        leaseOwner: null,
        leaseExpiresAt: null,
      })
      .where('id', '=', id);
    if (lease) {
      query = query
        .where('leaseOwner', '=', lease.owner)
        .where('attempts', '=', lease.attempt)
        .where('status', '=', 'running');
    }
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Appends one line, keeping the log bounded (LOG_HEAD_LINES + LOG_TAIL_LINES, plus at most a
   * batch awaiting deletion) in constant work per line. The increment of `jobs.log_lines` numbers
   * the line atomically, so writers of one job in several processes never take the same number; the
   * writer whose line completes a batch deletes everything between the head and the tail. A range,
   * so a line inserted late by a slower writer goes with the next batch.
   */
  async appendLog(jobId: string, message: string, at: string): Promise<void> {
    const counted = await this.db
      .updateTable('jobs')
      .set((eb) => ({ logLines: eb('logLines', '+', 1), updatedAt: at }))
      .where('id', '=', jobId)
      .returning('logLines')
      .executeTakeFirst();
    if (!counted) return;
    const seq = counted.logLines;
    await this.db.insertInto('jobLogs').values({ jobId, seq, at, message }).execute();
    const cut = seq - LOG_TAIL_LINES;
    if (cut > LOG_HEAD_LINES && cut % LOG_TRIM_BATCH === 0) {
      await this.db
        .deleteFrom('jobLogs')
        .where('jobId', '=', jobId)
        .where('seq', '>', LOG_HEAD_LINES)
        .where('seq', '<=', cut)
        .execute();
    }
  }

  /**
   * Kept lines of `job` numbered above `afterSeq`, oldest first: the head, then the tail, read as
   * two index ranges so neither walks the lines between them (awaiting deletion, or on PostgreSQL
   * dead until vacuumed). `job.logLines` is the count read with the job; lines written since come too.
   */
  async logLines(
    job: { id: string; logLines: number },
    afterSeq: number,
    limit: number,
  ): Promise<NumberedLogLine[]> {
    const range = (above: number, atMost: number | undefined, count: number) => {
      let query = this.db
        .selectFrom('jobLogs')
        .select(['seq', 'at', 'message'])
        .where('jobId', '=', job.id)
        .where('seq', '>', above);
      if (atMost !== undefined) query = query.where('seq', '<=', atMost);
      return query.orderBy('seq').limit(count).execute();
    };
    const head = afterSeq < LOG_HEAD_LINES ? await range(afterSeq, LOG_HEAD_LINES, limit) : [];
    if (head.length >= limit) return head;
    const tailAbove = Math.max(afterSeq, LOG_HEAD_LINES, job.logLines - LOG_TAIL_LINES);
    return [...head, ...(await range(tailAbove, undefined, limit - head.length))];
  }

  /** How many jobs there are per (type, status), across the deployment: the jobs gauges. */
  async countByTypeAndStatus(): Promise<{ type: JobType; status: JobStatus; count: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['type', 'status', (eb) => eb.fn.countAll().as('count')])
      .groupBy(['type', 'status'])
      .execute();
    // PostgreSQL's count is a bigint, which arrives as a string.
    return rows.map((row) => ({ type: row.type, status: row.status, count: Number(row.count) }));
  }
}
