import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './child-server.js';

/**
 * Database and Redis servers of a test's own, on free ports, that the test may stop and start
 * under a running app; the shared servers (5432, 6379) are never touched.
 */
const run = promisify(execFile);

/** Polls `check` until it resolves true, or fails after the deadline (never a fixed sleep). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface OwnServer {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function postgresBin(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await fs.readdir(root)).sort((a, b) => Number(b) - Number(a));
  if (versions[0] === undefined) throw new Error(`no PostgreSQL under ${root}`);
  return path.join(root, versions[0], 'bin');
}

/**
 * initdb + pg_ctl in a temp folder, as the `postgres` user when we are root (PostgreSQL refuses root).
 * `stopMode`: pg_ctl's shutdown mode for `stop()`; `immediate` drops every connection at once, as a crash does.
 */
export async function startOwnPostgres(
  options: { stopMode?: 'fast' | 'immediate' } = {},
): Promise<OwnServer> {
  const bin = await postgresBin();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-pg-'));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await fs.chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args])
      : run(path.join(bin, tool), args);
  const data = path.join(dir, 'data');
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let running = false;
  const server: OwnServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pg('pg_ctl', ['-D', data, '-o', serverOptions, '-l', path.join(dir, 'log'), '-w', 'start']);
      running = true;
    },
    async stop() {
      await pg('pg_ctl', ['-D', data, '-m', options.stopMode ?? 'fast', '-w', 'stop']);
      running = false;
    },
    async destroy() {
      if (running) await server.stop().catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/**
 * `redis-server` on a free port. `persistent`: every write goes to an append-only file (fsynced
 * each time), so a restart keeps the data even after `kill -9`; otherwise nothing survives a stop.
 * `stopSignal`: how `stop()` ends it (SIGTERM by default).
 */
export async function startOwnRedis(
  options: { persistent?: boolean; stopSignal?: NodeJS.Signals } = {},
): Promise<OwnServer> {
  const port = await freePort();
  const dir = options.persistent ? await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-redis-')) : undefined;
  const persistence = dir
    ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const server: OwnServer = {
    url,
    async start() {
      const started = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence],
        { stdio: 'ignore' },
      );
      child = started;
      await until(`redis-server on ${port}`, async () => {
        const redis = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        redis.on('error', () => {});
        try {
          await redis.connect();
          return (await redis.ping()) === 'PONG';
        } finally {
          redis.disconnect();
        }
      });
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill(options.stopSignal ?? 'SIGTERM');
      await exited;
    },
    async destroy() {
      await server.stop();
      if (dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
