import type { Db } from './connection.js';
import type { EventRow, EventType } from './schema.js';

export interface NewEventRow {
  type: EventType;
  at: string;
  jobId: string | null;
  modelId: string | null;
  artifactId: string | null;
  data: string;
}

export class EventsRepository {
  constructor(private readonly db: Db) {}

  async insert(event: NewEventRow): Promise<number> {
    const row = await this.db.insertInto('events').values(event).returning('seq').executeTakeFirstOrThrow();
    return Number(row.seq);
  }

  /** Stored events after `afterSeq` in order, optionally of one job: what a resuming client missed. */
  async listAfter(afterSeq: number, options: { jobId?: string; limit: number }): Promise<EventRow[]> {
    let query = this.db.selectFrom('events').selectAll().where('seq', '>', afterSeq);
    if (options.jobId !== undefined) query = query.where('jobId', '=', options.jobId);
    return query.orderBy('seq').limit(options.limit).execute();
  }

  /** Events older than `before` are dropped; a client resuming from one of them gets what is left. */
  async deleteOlderThan(before: string): Promise<number> {
    const result = await this.db.deleteFrom('events').where('at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
