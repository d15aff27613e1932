import { createRequire } from 'node:module';
import type pg from 'pg';
import type { ChangeCounter } from './change-counter.js';

/** What the tables' triggers notify on each statement that changes them (migration 0011). */
export const CHANGES_CHANNEL = 'model_hub_changes';
const RECONNECT_DELAY_MS = 1_000;

const requireDriver = createRequire(import.meta.url);

/**
 * Keeps one connection listening for other processes' changes (workers, other API processes) and
 * moves `changes` on each. The counter is blind until the first `LISTEN` has answered and whenever
 * the connection is lost, until a new one listens again (a second apart, for as long as it takes:
 * a database outage ends it).
 */
export function listenForChanges(
  url: string,
  changes: ChangeCounter,
  onError: (error: Error) => void,
): { close(): Promise<void> } {
  const { Client } = requireDriver('pg') as typeof pg;
  changes.blind();
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  let listening = false;
  const lost = (current: pg.Client, error?: Error) => {
    if (client !== current) return;
    client = undefined;
    changes.blind();
    // One report per lost connection, not one per failed reconnect through an outage.
    if (error && listening) onError(error);
    listening = false;
    current.end().catch(() => undefined);
    if (!closed) retry = setTimeout(connect, RECONNECT_DELAY_MS);
  };
  const connect = () => {
    retry = undefined;
    const current = new Client({ connectionString: url });
    client = current;
    current.on('notification', () => changes.changed());
    current.on('error', (error) => lost(current, error));
    current.on('end', () => lost(current));
    current
      .connect()
      .then(() => current.query(`listen ${CHANGES_CHANNEL}`))
      .then(() => {
        if (client !== current || closed) return;
        listening = true;
        changes.see();
      })
      .catch((error: Error) => lost(current, error));
  };
  connect();

  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
