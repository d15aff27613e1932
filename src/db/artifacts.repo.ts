import { sql } from 'kysely';
import type { Db } from './connection.js';
import type { ArtifactRow, ArtifactUpdate, NewArtifact } from './schema.js';

/**
 * The lock a download of this artifact's content takes: identical content (same LFS sha256, or
 * same git blob) is one lock, so two workers never fetch it at once. `resetOrphanedDownloads`
 * builds the same key in SQL.
 */
export function contentLeaseKey(
  artifact: Pick<ArtifactRow, 'id' | 'upstreamSha256' | 'upstreamOid'>,
): string {
  return `content:${artifact.upstreamSha256 ?? artifact.upstreamOid ?? artifact.id}`;
}

/** The same lock for a stored blob, by its sha256: what GC, the quota and export take. */
export function blobLeaseKey(sha256: string): string {
  return contentLeaseKey({ id: sha256, upstreamSha256: sha256, upstreamOid: null });
}

/** Rows per multi-row statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const BATCH_ROWS = 500;

export class ArtifactsRepository {
  constructor(private readonly db: Db) {}

  /** The same repository inside a transaction (see EventLog.commit). */
  in(trx: Db): ArtifactsRepository {
    return new ArtifactsRepository(trx);
  }

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

  /** Progress of a download in flight; a row that finished meanwhile keeps its final count. */
  async recordBytesDownloaded(id: string, bytes: number, at: string): Promise<void> {
    await this.db
      .updateTable('artifacts')
      .set({ bytesDownloaded: bytes, updatedAt: at })
      .where('id', '=', id)
      .where('downloadStatus', '=', 'downloading')
      .execute();
  }

  async findByModelPath(modelId: string, path: string): Promise<ArtifactRow | undefined> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('modelId', '=', modelId)
      .where('path', '=', path)
      .executeTakeFirst();
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

  /** Embedded mode only: after a crash no download is running, so `downloading` rows are pending again. */
  async resetInterrupted(at: string): Promise<number> {
    const result = await this.db
      .updateTable('artifacts')
      .set({ downloadStatus: 'pending', updatedAt: at })
      .where('downloadStatus', '=', 'downloading')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** `downloading` rows whose content lock lapsed (their worker died) are pending again. */
  async resetOrphanedDownloads(at: string): Promise<number> {
    const result = await this.db
      .updateTable('artifacts')
      .set({ downloadStatus: 'pending', updatedAt: at })
      .where('downloadStatus', '=', 'downloading')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('leases')
              .select('leases.key')
              .where(
                'leases.key',
                '=',
                sql<string>`'content:' || coalesce(artifacts.upstream_sha256, artifacts.upstream_oid, artifacts.id)`,
              )
              .where('leases.expiresAt', '>=', at),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** A verified blob some other artifact with the same git blob already holds, if any. */
  async findCompletedSha256ByOid(upstreamOid: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('artifacts')
      .select('sha256')
      .where('upstreamOid', '=', upstreamOid)
      .where('downloadStatus', '=', 'completed')
      .where('sha256', 'is not', null)
      .executeTakeFirst();
    return row?.sha256 ?? undefined;
  }

  /** `findCompletedSha256ByOid` for many git blobs in a few statements: oid → sha256 of those found. */
  async findCompletedSha256ByOids(upstreamOids: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unique = [...new Set(upstreamOids)];
    for (let i = 0; i < unique.length; i += BATCH_ROWS) {
      const rows = await this.db
        .selectFrom('artifacts')
        .select(['upstreamOid', 'sha256'])
        .where('upstreamOid', 'in', unique.slice(i, i + BATCH_ROWS))
        .where('downloadStatus', '=', 'completed')
        .where('sha256', 'is not', null)
        .execute();
      for (const row of rows) {
        if (row.upstreamOid !== null && row.sha256 !== null) found.set(row.upstreamOid, row.sha256);
      }
    }
    return found;
  }

  /**
   * Many artifacts hold verified, durable content now (a group commit): one statement per row,
   * meant to run inside the one transaction that also records their events (see EventLog.commit).
   */
  async markCompletedMany(
    rows: readonly { id: string; sha256: string; localPath: string; size: number }[],
    at: string,
  ): Promise<void> {
    for (const row of rows) {
      await this.db
        .updateTable('artifacts')
        .set({
          downloadStatus: 'completed',
          sha256: row.sha256,
          localPath: row.localPath,
          bytesDownloaded: row.size,
          error: null,
          updatedAt: at,
          lastUsedAt: at,
        })
        .where('id', '=', row.id)
        .execute();
    }
  }

  /**
   * What "referenced" means for scan and GC: a blob a non-removed artifact holds (its verified
   * sha256) or could be deduplicated onto (the LFS sha256 it advertises, whatever its status).
   * `isSha256Referenced` asks the same question for one blob.
   */
  async referencedSha256(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('artifacts')
      .select('sha256 as hash')
      .where('removedAt', 'is', null)
      .where('sha256', 'is not', null)
      .union(
        this.db
          .selectFrom('artifacts')
          .select('upstreamSha256 as hash')
          .where('removedAt', 'is', null)
          .where('upstreamSha256', 'is not', null),
      )
      .execute();
    return new Set(rows.flatMap((r) => (r.hash === null ? [] : [r.hash])));
  }

  async isSha256Referenced(sha256: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('artifacts')
      .select('id')
      .where('removedAt', 'is', null)
      .where((eb) => eb.or([eb('sha256', '=', sha256), eb('upstreamSha256', '=', sha256)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Completed artifacts (removed upstream or not), of one model or of all. */
  async listCompleted(modelId?: string): Promise<ArtifactRow[]> {
    let query = this.db.selectFrom('artifacts').selectAll().where('downloadStatus', '=', 'completed');
    if (modelId !== undefined) query = query.where('modelId', '=', modelId);
    return query.orderBy('id').execute();
  }

  /**
   * The blob these completed artifacts pointed at is gone (missing, quarantined or collected): they
   * are pending again, to be downloaded on demand. Returns the rows as they were.
   */
  async resetToPendingBySha256(sha256: string, at: string): Promise<ArtifactRow[]> {
    const rows = await this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('sha256', '=', sha256)
      .where('downloadStatus', '=', 'completed')
      .execute();
    await this.resetToPending(
      rows.map((r) => r.id),
      at,
    );
    return rows;
  }

  async resetToPending(ids: readonly string[], at: string): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      await this.db
        .updateTable('artifacts')
        .set({ downloadStatus: 'pending', sha256: null, localPath: null, bytesDownloaded: 0, updatedAt: at })
        .where('id', 'in', ids.slice(i, i + BATCH_ROWS))
        .where('downloadStatus', '=', 'completed')
        .execute();
    }
  }

  async update(id: string, set: ArtifactUpdate): Promise<void> {
    await this.db.updateTable('artifacts').set(set).where('id', '=', id).execute();
  }

  /** Distinct verified blobs the artifacts point at, and their total size: the store gauges. */
  async storeUsage(): Promise<{ blobs: number; bytes: number }> {
    const perBlob = this.db
      .selectFrom('artifacts')
      .select(['sha256', (eb) => eb.fn.max('size').as('size')])
      .where('downloadStatus', '=', 'completed')
      .where('sha256', 'is not', null)
      .groupBy('sha256')
      .as('blob');
    const row = await this.db
      .selectFrom(perBlob)
      .select((eb) => [eb.fn.countAll().as('blobs'), eb.fn.sum('blob.size').as('bytes')])
      .executeTakeFirstOrThrow();
    // count and sum arrive as strings from PostgreSQL (bigint, numeric); sum is null with no rows.
    return { blobs: Number(row.blobs), bytes: Number(row.bytes ?? 0) };
  }

  /** Distinct blobs the model's completed artifacts point at. */
  async completedSha256OfModel(modelId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('artifacts')
      .select('sha256')
      .distinct()
      .where('modelId', '=', modelId)
      .where('downloadStatus', '=', 'completed')
      .where('sha256', 'is not', null)
      .execute();
    return rows.flatMap((r) => (r.sha256 === null ? [] : [r.sha256]));
  }

  /**
   * Per model: completed files, their total size (logical), and the size of the blobs no other
   * model points at (unique: what deleting the model and collecting its blobs would free).
   */
  async usageByModel(): Promise<
    { modelId: string; files: number; logicalBytes: number; uniqueBytes: number }[]
  > {
    const logical = await this.db
      .selectFrom('artifacts')
      .select(['modelId', (eb) => eb.fn.countAll().as('files'), (eb) => eb.fn.sum('size').as('bytes')])
      .where('downloadStatus', '=', 'completed')
      .groupBy('modelId')
      .execute();
    const uniqueBlobs = this.db
      .selectFrom('artifacts as a')
      .select(['a.modelId', 'a.sha256', (eb) => eb.fn.max('a.size').as('size')])
      .where('a.downloadStatus', '=', 'completed')
      .where('a.sha256', 'is not', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('artifacts as b')
              .select('b.id')
              .whereRef('b.sha256', '=', 'a.sha256')
              .whereRef('b.modelId', '<>', 'a.modelId')
              .where('b.downloadStatus', '=', 'completed'),
          ),
        ),
      )
      .groupBy(['a.modelId', 'a.sha256'])
      .as('u');
    const unique = await this.db
      .selectFrom(uniqueBlobs)
      .select(['u.modelId', (eb) => eb.fn.sum('u.size').as('bytes')])
      .groupBy('u.modelId')
      .execute();
    const uniqueByModel = new Map(unique.map((r) => [r.modelId, Number(r.bytes ?? 0)]));
    // count and sum arrive as strings from PostgreSQL (bigint, numeric).
    return logical.map((r) => ({
      modelId: r.modelId,
      files: Number(r.files),
      logicalBytes: Number(r.bytes ?? 0),
      uniqueBytes: uniqueByModel.get(r.modelId) ?? 0,
    }));
  }

  /** Their content was just used (reused as already stored, exported): it is evicted last. */
  async markUsed(ids: readonly string[], at: string): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      await this.db
        .updateTable('artifacts')
        .set({ lastUsedAt: at })
        .where('id', 'in', ids.slice(i, i + BATCH_ROWS))
        .execute();
    }
  }

  /**
   * Weight blobs the store quota may evict, least recently used first: completed `model` files of
   * which no copy belongs to a pinned model. Configs and tokenizers are never evicted.
   */
  async evictionCandidates(limit: number): Promise<{ sha256: string; size: number }[]> {
    const rows = await this.db
      .selectFrom('artifacts as a')
      .innerJoin('modelRepos as m', 'm.id', 'a.modelId')
      .select([
        'a.sha256',
        (eb) => eb.fn.max('a.size').as('size'),
        (eb) => eb.fn.max(eb.fn.coalesce('a.lastUsedAt', 'a.updatedAt')).as('lastUsed'),
      ])
      .where('a.downloadStatus', '=', 'completed')
      .where('a.sha256', 'is not', null)
      .groupBy('a.sha256')
      .having((eb) =>
        eb.and([
          eb(eb.fn.count(eb.case().when('m.pinnedAt', 'is not', null).then(1).end()), '=', 0),
          eb(eb.fn.count(eb.case().when('a.fileType', '<>', 'model').then(1).end()), '=', 0),
        ]),
      )
      .orderBy('lastUsed')
      .limit(limit)
      .execute();
    return rows.flatMap((r) => (r.sha256 === null ? [] : [{ sha256: r.sha256, size: Number(r.size) }]));
  }
}
