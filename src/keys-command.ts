import { HubApiError } from './client/api-client.js';
import type { KeysBackend } from './client/keys-commands.js';
import { type Config, describeDatabase } from './config.js';
import { ApiKeysRepository } from './db/api-keys.repo.js';
import { openDatabase } from './db/connection.js';
import { migrateToLatest } from './db/migrator.js';
import { AppError } from './errors.js';
import { presentApiKey } from './http/presenters.js';
import { ApiKeysService } from './services/api-keys.service.js';

/**
 * `model-hub keys …` without an API key: a server-side command like `migrate`. It opens the hub's
 * database with the same environment as `serve` (migrating it first, so the first key can be made
 * before the hub ever started) and runs the one API-keys service directly.
 */
export function databaseKeys(config: Config): KeysBackend {
  const withService = async <T>(work: (service: ApiKeysService) => Promise<T>): Promise<T> => {
    const db = openDatabase(config.database);
    try {
      await migrateToLatest(db);
      return await work(new ApiKeysService(new ApiKeysRepository(db)));
    } catch (error) {
      if (error instanceof AppError) throw new HubApiError(0, error.code, error.message);
      throw error;
    } finally {
      await db.destroy();
    }
  };
  return {
    describe: () => `database ${describeDatabase(config.database)}`,
    create: (scope, name) =>
      withService(async (service) => {
        const created = await service.create({ scope, name: name ?? null });
        return { ...presentApiKey(created), key: created.key };
      }),
    list: () => withService(async (service) => (await service.list()).map(presentApiKey)),
    revoke: (idOrPrefix) => withService(async (service) => presentApiKey(await service.revoke(idOrPrefix))),
  };
}
