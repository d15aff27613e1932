import type { Db } from './connection.js';
import type { ArtifactRow, ArtifactUpdate, NewArtifact } from './schema.js';

/** Rows per multi-row statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const BATCH_ROWS = 500;

export class ArtifactsRepository {
  constructor(private readonly db: Db) {}

  async findById(id: string): Promise<ArtifactRow | undefined> {
    return this.db.selectFrom('artifacts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByIds(ids: readonly string[]): Promise<ArtifactRow[]> {
    if (ids.length === 0) return [];
    const rows: ArtifactRow[] = [];
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      const chunk = ids.slice(i, i + BATCH_ROWS);
      rows.push(...(await this.db.selectFrom('artifacts').selectAll().where('id', 'in', chunk).execute()));
    }
    return rows;
  }

  async listByModel(modelId: string): Promise<ArtifactRow[]> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('modelId', '=', modelId)
      .orderBy('path')
      .execute();
  }

  /** Inserts new rows and rewrites changed ones in batches, all in one transaction. */
  async applySync(changes: {
    inserts: NewArtifact[];
    updates: { id: string; set: ArtifactUpdate }[];
    removedIds: string[];
    removedAt: string;
  }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < changes.inserts.length; i += BATCH_ROWS) {
        await trx
          .insertInto('artifacts')
          .values(changes.inserts.slice(i, i + BATCH_ROWS))
          .execute();
      }
      for (const update of changes.updates) {
        await trx.updateTable('artifacts').set(update.set).where('id', '=', update.id).execute();
      }
      for (let i = 0; i < changes.removedIds.length; i += BATCH_ROWS) {
        await trx
          .updateTable('artifacts')
          .set({ removedAt: changes.removedAt, updatedAt: changes.removedAt })
          .where('id', 'in', changes.removedIds.slice(i, i + BATCH_ROWS))
          .execute();
      }
    });
  }

  /** Re-pins unchanged files to the new commit in a few statements. */
  async setCommit(ids: readonly string[], commitSha: string, at: string): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      await this.db
        .updateTable('artifacts')
        .set({ commitSha, removedAt: null, updatedAt: at })
        .where('id', 'in', ids.slice(i, i + BATCH_ROWS))
        .execute();
    }
  }

  /** A crash can leave rows `downloading`; with no running job they are pending again. */
  async resetInterrupted(at: string): Promise<number> {
    const result = await this.db
      .updateTable('artifacts')
      .set({ downloadStatus: 'pending', updatedAt: at })
      .where('downloadStatus', '=', 'downloading')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async update(id: string, set: ArtifactUpdate): Promise<void> {
    await this.db.updateTable('artifacts').set(set).where('id', '=', id).execute();
  }
}
