import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';
import type { StorageService } from '../services/storage.service.js';
import { Nullable } from './schemas.js';

const Bytes = Type.Integer({ minimum: 0 });

export const StorageReport = Type.Object({
  blob_count: Type.Integer({ description: 'Distinct contents stored' }),
  blob_bytes: { ...Bytes, description: 'Bytes the blobs take (each content once)' },
  logical_bytes: {
    ...Bytes,
    description: 'Bytes of all completed artifacts, shared content counted per artifact',
  },
  dedup_saved_bytes: { ...Bytes, description: 'logical_bytes - blob_bytes' },
  disk: Type.Object({ free_bytes: Bytes, total_bytes: Bytes }),
  quota_bytes: Nullable(Bytes, {
    description: 'STORE_MAX_BYTES: least recently used weight blobs of unpinned models are evicted above it',
  }),
  models: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      repo_id: Type.String(),
      pinned: Type.Boolean(),
      files: Type.Integer({ description: 'Completed artifacts' }),
      logical_bytes: Bytes,
      unique_bytes: {
        ...Bytes,
        description: 'Blobs no other model shares: what deleting it with purge frees',
      },
    }),
  ),
});

export type StorageReportWire = Static<typeof StorageReport>;

export function storageRoutes(deps: { storage: StorageService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/storage',
      {
        config: { scope: 'read' },
        schema: {
          summary: 'Store usage: blobs, bytes saved by dedup, per-model logical and unique bytes, free disk',
          tags: ['storage'],
          response: { 200: StorageReport },
        },
      },
      async () => {
        const r = await deps.storage.report();
        return {
          blob_count: r.blobCount,
          blob_bytes: r.blobBytes,
          logical_bytes: r.logicalBytes,
          dedup_saved_bytes: r.dedupSavedBytes,
          disk: { free_bytes: r.disk.freeBytes, total_bytes: r.disk.totalBytes },
          quota_bytes: r.quotaBytes,
          models: r.models.map((m) => ({
            id: m.modelId,
            repo_id: m.repoId,
            pinned: m.pinned,
            files: m.files,
            logical_bytes: m.logicalBytes,
            unique_bytes: m.uniqueBytes,
          })),
        };
      },
    );
  };
}
