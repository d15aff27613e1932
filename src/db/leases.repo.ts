import type { Db } from './connection.js';

/**
 * Named locks that lapse: a holder must renew before `expiresAt`, so a worker that dies (even with
 * `kill -9`) frees what it held within one lease period. Works the same on SQLite and PostgreSQL.
 */
export class LeasesRepository {
  constructor(private readonly db: Db) {}

  /** Takes `key` when it is free or lapsed (or already ours); false when someone else holds it. */
  async acquire(key: string, holder: string, at: string, until: string): Promise<boolean> {
    const row = await this.db
      .insertInto('leases')
      .values({ key, holder, expiresAt: until })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet({
            holder: (eb) => eb.ref('excluded.holder'),
            expiresAt: (eb) => eb.ref('excluded.expiresAt'),
          })
          .where((eb) => eb.or([eb('leases.expiresAt', '<', at), eb('leases.holder', '=', holder)])),
      )
      .returning('key')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Whether someone holds `key` at `at` (a lapsed lease counts as free). */
  async isHeld(key: string, at: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('leases')
      .select('key')
      .where('key', '=', key)
      .where('expiresAt', '>=', at)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Pushes out one lease while `holder` still has it; false when it lapsed and someone else took it,
   * or the reaper deleted it. A lapsed lease nobody took yet is still ours to renew.
   */
  async renew(key: string, holder: string, until: string): Promise<boolean> {
    const result = await this.db
      .updateTable('leases')
      .set({ expiresAt: until })
      .where('key', '=', key)
      .where('holder', '=', holder)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(key: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('key', '=', key).where('holder', '=', holder).execute();
  }

  async releaseAll(holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('holder', '=', holder).execute();
  }

  async deleteExpired(at: string): Promise<void> {
    await this.db.deleteFrom('leases').where('expiresAt', '<', at).execute();
  }
}
