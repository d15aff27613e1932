#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=2 --liftoff-only
// A 1 MiB young generation (V8 grows it to 16 MiB by default) keeps the server ~25 MiB smaller
// idle and collects the network buffers of a download sooner. --liftoff-only: optimizing undici's
// HTTP parser (WebAssembly) took ~35 MiB for a moment at the first upstream request, and that
// parser only frames bodies, it never loops over their bytes. --v8-pool-size=2: V8's helper threads
// (concurrent GC, compilation) each keep memory of their own; two are plenty for a heap of ~50 MiB,
// and the peak while downloading was ~6 MiB lower than with the default four. See docs/benchmarks.md.
import path from 'node:path';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { registerClientCommands } from './client/commands.js';
import { terminalSafe } from './client/format.js';
import { parseRepoArgument } from './client/repo-argument.js';
import { VERSION } from './version.js';

/**
 * The server stack (database drivers, queue, HTTP server) loads only for the commands that run it:
 * the client commands start in a fraction of the time without it.
 */
const serverModules = async () => {
  const [app, config, connection, migrator, logger, startup] = await Promise.all([
    import('./app.js'),
    import('./config.js'),
    import('./db/connection.js'),
    import('./db/migrator.js'),
    import('./logger.js'),
    import('./startup-checks.js'),
  ]);
  return {
    createApp: app.createApp,
    createWorkerProcess: app.createWorkerProcess,
    ConfigError: config.ConfigError,
    describeDatabase: config.describeDatabase,
    loadConfig: config.loadConfig,
    openDatabase: connection.openDatabase,
    migrateToLatest: migrator.migrateToLatest,
    createLogger: logger.createLogger,
    assertPortFree: startup.assertPortFree,
    explainStartFailure: startup.explainStartFailure,
  };
};

const program = new Command('model-hub')
  .version(VERSION)
  .description('Self-hosted registry and mirror for Hugging Face models')
  // Lists --url in every client command's help, not only in the top-level one.
  .configureHelp({ showGlobalOptions: true });

program
  .command('serve')
  .description('Run the HTTP API and the job worker (WORKER=off: the API only, for distributed mode)')
  .action(async () => {
    const { createApp, createLogger, describeDatabase, loadConfig, assertPortFree, explainStartFailure } =
      await serverModules();
    const config = loadConfig(process.env);
    await assertPortFree(config.host, config.port);
    const logger = createLogger(config.logLevel);
    const app = await createApp(config, logger).catch((error: unknown) => {
      throw explainStartFailure(error, config);
    });
    await app.http.listen({ host: config.host, port: config.port });
    logger.info(
      {
        storePath: config.storePath,
        database: describeDatabase(config.database),
        queue: config.queue.kind,
        worker: config.runWorker ? app.workerId : 'off',
      },
      'model hub ready',
    );
    stopOnSignal(app, logger);
  });

program
  .command('worker')
  .description('Run only the job worker, taking jobs from the shared queue (needs REDIS_URL)')
  .action(async () => {
    const {
      ConfigError,
      createLogger,
      createWorkerProcess,
      describeDatabase,
      loadConfig,
      explainStartFailure,
    } = await serverModules();
    const config = loadConfig(process.env);
    if (config.queue.kind !== 'bullmq') {
      throw new ConfigError(
        'model-hub worker needs REDIS_URL: workers take their jobs from the shared queue',
      );
    }
    const logger = createLogger(config.logLevel);
    const worker = await createWorkerProcess(config, logger).catch((error: unknown) => {
      throw explainStartFailure(error, config);
    });
    logger.info(
      { storePath: config.storePath, database: describeDatabase(config.database), worker: worker.workerId },
      'model hub worker ready',
    );
    stopOnSignal(worker, logger);
  });

/** SIGTERM/SIGINT: graceful close (running jobs finish or are handed back), then exit. */
function stopOnSignal(running: { close(): Promise<void> }, logger: Logger): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    running.close().then(
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
}

program
  .command('migrate')
  .description('Apply database migrations and exit')
  .action(async () => {
    const { loadConfig, migrateToLatest, openDatabase } = await serverModules();
    const config = loadConfig(process.env);
    const db = openDatabase(config.database);
    try {
      const applied = await migrateToLatest(db);
      console.log(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'Database is up to date');
    } finally {
      await db.destroy();
    }
  });

program
  .command('export')
  .description(
    "Write a downloaded repo out of the store for runtimes (run on the hub's machine, with its MODEL_STORE_PATH and DATABASE_URL)",
  )
  .argument('<repo_id>', 'registered repo, owner/name (or its huggingface.co URL)', parseRepoArgument)
  .argument('<dir>', 'where to write it (HF_HUB_CACHE for hf-cache)')
  .addOption(
    new Option('--layout <layout>', 'models--org--name/{blobs,snapshots,refs}, or the files under <dir>')
      .choices(['hf-cache', 'flat'])
      .default('hf-cache'),
  )
  .option(
    '--revision <rev>',
    'the ref to write (default: the revision the hub tracks; a commit writes no ref)',
  )
  .option('--allow-partial', 'export the downloaded files even if some are not downloaded yet')
  .action(
    async (
      repoId: string,
      dir: string,
      opts: { layout: 'hf-cache' | 'flat'; revision?: string; allowPartial?: boolean },
    ) => {
      const [{ loadConfig }, { describeExport, runExport }] = await Promise.all([
        import('./config.js'),
        import('./export-command.js'),
      ]);
      const target = path.resolve(dir);
      const summary = await runExport(loadConfig(process.env), {
        repoId,
        dir: target,
        layout: opts.layout,
        ...(opts.revision ? { revision: opts.revision } : {}),
        allowPartial: opts.allowPartial === true,
      });
      for (const line of describeExport(summary, target)) console.log(line);
    },
  );

registerClientCommands(program, {
  env: process.env,
  keysDatabase: async () => {
    const [{ loadConfig }, { databaseKeys }] = await Promise.all([
      import('./config.js'),
      import('./keys-command.js'),
    ]);
    return databaseKeys(loadConfig(process.env));
  },
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
});

program.parseAsync(process.argv).catch(async (error: unknown) => {
  // A ConfigError can only come from a server command, which has loaded config.js already.
  const { ConfigError } = await import('./config.js');
  if (error instanceof ConfigError) {
    console.error(`error: ${error.message}`);
    process.exit(2);
  }
  console.error(`error: ${terminalSafe(error instanceof Error ? error.message : String(error))}`);
  process.exit(1);
});
