#!/usr/bin/env node
import { Command } from 'commander';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/connection.js';
import { migrateToLatest } from './db/migrator.js';
import { createLogger } from './logger.js';
import { VERSION } from './version.js';

const program = new Command('model-hub')
  .version(VERSION)
  .description('Self-hosted registry and mirror for Hugging Face models');

program
  .command('serve')
  .description('Run the HTTP API and the job worker (embedded SQLite + in-process queue by default)')
  .action(async () => {
    const config = loadConfig(process.env);
    const logger = createLogger(config.logLevel);
    const app = await createApp(config, logger);
    await app.http.listen({ host: config.host, port: config.port });
    logger.info({ storePath: config.storePath, database: config.database.filename }, 'model hub ready');
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down');
      app.close().then(
        () => {
          logger.info('model hub stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });

program
  .command('migrate')
  .description('Apply database migrations and exit')
  .action(async () => {
    const config = loadConfig(process.env);
    const db = openDatabase(config.database);
    try {
      const applied = await migrateToLatest(db);
      console.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'Database is up to date');
    } finally {
      await db.destroy();
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
