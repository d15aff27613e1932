import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli } from '../support/child-server.js';

/** `serve` refusing to start: the message names the variable to change, and nothing is set up first. */
let workDir: string;

beforeAll(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-startup-'));
});

afterAll(async () => {
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

const embedded = { DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'silent' };

describe('serve refusing to start', () => {
  it('names PORT when the port is taken, before creating the store or migrating', async () => {
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const store = path.join(workDir, 'port-store');
      const run = await runCli(['serve'], { ...embedded, PORT: String(port), MODEL_STORE_PATH: store });
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `error: Port ${port} on 127.0.0.1 is already in use (another Model Hub, or another program): stop it, or set PORT to a free port\n`,
      );
      await expect(fs.access(store)).rejects.toThrow();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 60_000);

  it('names DATABASE_URL when PostgreSQL cannot be reached, without repeating its password', async () => {
    const closed = await freePort();
    const run = await runCli(['serve'], {
      ...embedded,
      PORT: String(await freePort()),
      MODEL_STORE_PATH: path.join(workDir, 'db-store'),
      DATABASE_URL: `postgres://hub:secretpw@127.0.0.1:${closed}/hub`,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(
        `^error: Cannot use the database postgres://hub@127\\.0\\.0\\.1:${closed}/hub \\(.*ECONNREFUSED.*\\): check that it is running and reachable, or set DATABASE_URL\\n$`,
      ),
    );
    expect(run.stderr).not.toContain('secretpw');
  }, 60_000);
});
