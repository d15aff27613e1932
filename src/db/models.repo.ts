import type { Db } from './connection.js';
import type { ModelRepoRow, ModelStatus, NewModelRepo } from './schema.js';

export class ModelsRepository {
  constructor(private readonly db: Db) {}

  /** The same repository inside a transaction (see EventLog.commit). */
  in(trx: Db): ModelsRepository {
    return new ModelsRepository(trx);
  }

  async insert(row: NewModelRepo): Promise<ModelRepoRow> {
    return this.db.insertInto('modelRepos').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async findById(id: string): Promise<ModelRepoRow | undefined> {
    return this.db.selectFrom('modelRepos').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByRepoId(repoId: string): Promise<ModelRepoRow | undefined> {
    return this.db.selectFrom('modelRepos').selectAll().where('repoId', '=', repoId).executeTakeFirst();
  }

  async list(): Promise<ModelRepoRow[]> {
    return this.db.selectFrom('modelRepos').selectAll().orderBy('createdAt').orderBy('id').execute();
  }

  /** Its artifacts go with it (foreign key cascade); false when there was no such model. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('modelRepos').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async setPinned(id: string, pinnedAt: string | null, at: string): Promise<ModelRepoRow | undefined> {
    return this.db
      .updateTable('modelRepos')
      .set({ pinnedAt, updatedAt: at })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async setStatus(
    id: string,
    status: ModelStatus,
    fields: { error?: string | null; commitSha?: string; lastSyncedAt?: string; updatedAt: string },
  ): Promise<void> {
    await this.db
      .updateTable('modelRepos')
      .set({ status, ...fields })
      .where('id', '=', id)
      .execute();
  }
}
