import type { Db } from './connection.js';
import type { ApiKeyRow } from './schema.js';

export class ApiKeysRepository {
  constructor(private readonly db: Db) {}

  async insert(row: Omit<ApiKeyRow, 'lastUsedAt'>): Promise<ApiKeyRow> {
    return this.db.insertInto('apiKeys').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async findByPrefix(prefix: string): Promise<ApiKeyRow[]> {
    return this.db.selectFrom('apiKeys').selectAll().where('prefix', '=', prefix).execute();
  }

  async findById(id: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('apiKeys').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Keys whose prefix starts with `start` (the CLI revokes by a prefix as listed). */
  async findByPrefixStart(start: string): Promise<ApiKeyRow[]> {
    return this.db
      .selectFrom('apiKeys')
      .selectAll()
      .where('prefix', '>=', start)
      .where('prefix', '<', `${start}\uffff`)
      .limit(2)
      .execute();
  }

  async list(): Promise<ApiKeyRow[]> {
    return this.db.selectFrom('apiKeys').selectAll().orderBy('createdAt').orderBy('id').execute();
  }

  async any(): Promise<boolean> {
    const row = await this.db.selectFrom('apiKeys').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('apiKeys').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('apiKeys').set({ lastUsedAt: at }).where('id', '=', id).execute();
  }
}
