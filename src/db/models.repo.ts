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
