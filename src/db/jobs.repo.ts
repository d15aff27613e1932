import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Db } from './connection.js';
import type { Database, JobRow, JobStatus, JobType } from './schema.js';

export interface JobListFilter {
  status?: JobStatus;
  type?: JobType;
  limit: number;
  /** Keyset position: strictly older than this (createdAt, id). */
  before?: { createdAt: string; id: string };
}

export interface JobLogLine {
  at: string;
  message: string;
}

export class JobsRepository {
  constructor(private readonly db: Db) {}

  /** The same repository inside a transaction (see EventLog.commit). */
  in(trx: Db): JobsRepository {
    return new JobsRepository(trx);
  }

  async insert(job: { id: string; type: JobType; payload: string; createdAt: string }): Promise<JobRow> {
    return this.db
      .insertInto('jobs')
      .values({ ...job, status: 'pending', updatedAt: job.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(filter: JobListFilter): Promise<JobRow[]> {
    let query = this.db.selectFrom('jobs').selectAll();
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

  /** A pending or running job of this type with exactly this payload, if any. */
  async findActive(type: JobType, payload: string): Promise<JobRow | undefined> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('type', '=', type)
      .where('payload', '=', payload)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
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
   * stopped renewing. False when a live worker holds it or it is finished.
   */
  async claim(id: string, owner: string, at: string, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running',
        startedAt: at,
        updatedAt: at,
        attempts: eb('attempts', '+', 1),
        leaseOwner: owner,
        leaseExpiresAt: leaseUntil,
      }))
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb.and([eb('status', '=', 'running'), eb('leaseExpiresAt', '<', at)]),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** The heartbeat: pushes out the lease of every job `owner` runs; returns how many it still holds. */
  async renewLeases(owner: string, until: string): Promise<number> {
    const result = await this.db
      .updateTable('jobs')
      .set({ leaseExpiresAt: until })
      .where('leaseOwner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Running jobs whose worker stopped heartbeating go back to pending; returns their ids. */
  async reapExpired(at: string): Promise<string[]> {
    return this.runningBackToPending(at, (eb) =>
      eb.or([eb('leaseExpiresAt', 'is', null), eb('leaseExpiresAt', '<', at)]),
    );
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
      .set({ status: 'pending', leaseOwner: null, leaseExpiresAt: null, updatedAt: at })
      .where('status', '=', 'running')
      .where(which)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Pending jobs untouched since `before`, oldest first: re-offered in case their queue entry was lost. */
  async listStalePending(before: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select('id')
      .where('status', '=', 'pending')
      .where('updatedAt', '<', before)
      .orderBy('createdAt')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Embedded mode only: this process is the sole worker, so every running job is an orphan. */
  async requeueRunning(at: string): Promise<number> {
    const result = await this.db
      .updateTable('jobs')
      .set({ status: 'pending', leaseOwner: null, leaseExpiresAt: null, updatedAt: at })
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The bounded-rate progress write of a running job (JSON). */
  async setProgress(id: string, progress: string): Promise<void> {
    await this.db.updateTable('jobs').set({ progress }).where('id', '=', id).execute();
  }

  async finish(
    id: string,
    outcome: {
      status: 'completed' | 'failed';
      result?: string;
      error?: string;
      progress?: string;
      at: string;
    },
  ) {
    await this.db
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
      .where('id', '=', id)
      .execute();
  }

  async appendLog(jobId: string, message: string, at: string): Promise<void> {
    await this.db
      .insertInto('jobLogs')
      .columns(['jobId', 'seq', 'at', 'message'])
      .expression((eb) =>
        eb
          .selectFrom('jobLogs')
          .select([
            sql.val(jobId).as('jobId'),
            sql<number>`coalesce(max(seq), 0) + 1`.as('seq'),
            sql.val(at).as('at'),
            sql.val(message).as('message'),
          ])
          .where('jobId', '=', jobId),
      )
      .execute();
    await this.db.updateTable('jobs').set({ updatedAt: at }).where('id', '=', jobId).execute();
  }

  async logsFor(jobIds: readonly string[]): Promise<Map<string, JobLogLine[]>> {
    const byJob = new Map<string, JobLogLine[]>();
    if (jobIds.length === 0) return byJob;
    const rows = await this.db
      .selectFrom('jobLogs')
      .select(['jobId', 'at', 'message'])
      .where('jobId', 'in', jobIds)
      .orderBy('jobId')
      .orderBy('seq')
      .execute();
    for (const row of rows) {
      const lines = byJob.get(row.jobId) ?? [];
      lines.push({ at: row.at, message: row.message });
      byJob.set(row.jobId, lines);
    }
    return byJob;
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
