import net from 'node:net';
import { type Config, ConfigError, describeDatabase } from './config.js';
import { databaseOutage } from './db/outage.js';
import { queueOutage } from './queue/outage.js';

/**
 * What `serve` checks before it migrates or starts a worker, and how it words a failure to start
 * so that the message names the variable to change.
 */

/** Fails at once, naming PORT and HOST, when the address is taken (not after migrating and starting a worker). */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new ConfigError(
            `Port ${port} on ${host} is already in use (another Model Hub, or another program): stop it, or set PORT to a free port`,
          ),
        );
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
        reject(new ConfigError(`HOST ${host} is not an address of this machine: set HOST, e.g. 127.0.0.1`));
      } else {
        reject(error);
      }
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A start that failed because the database or Redis cannot be reached, worded with the variable to check. */
export function explainStartFailure(error: unknown, config: Config): unknown {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (databaseOutage(cause) !== undefined || databaseOutage(error) !== undefined) {
    const variable =
      config.database.dialect === 'postgres'
        ? 'DATABASE_URL'
        : 'MODEL_STORE_PATH (or DATA_DIR, or DATABASE_URL)';
    return new ConfigError(
      `Cannot use the database ${describeDatabase(config.database)} (${message}): check that it is running and reachable, or set ${variable}`,
    );
  }
  if (config.queue.kind === 'bullmq' && (queueOutage(cause) !== undefined || /redis/i.test(message))) {
    return new ConfigError(
      `Cannot use Redis for the queue (${message}): check that it is running, or set REDIS_URL`,
    );
  }
  return error;
}
