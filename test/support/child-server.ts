import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createBackend } from './backend.js';

/** Helpers for tests that drive a real server process over HTTP. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Polls `probe` until it returns a value, with a deadline (never a fixed sleep). */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A JSON client for one server: `api('POST', '/v1/hub/sync', body)` → `{status, body}`. */
export function jsonApi(base: () => string) {
  const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${base()}${url}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return { status: response.status, body: await response.json() };
  };
  const finished = (jobId: string, timeoutMs?: number) =>
    waitFor(
      `job ${jobId}`,
      async () => {
        const { body } = await api('GET', `/v1/hub/jobs/${jobId}`);
        return body.status === 'completed' || body.status === 'failed' ? body : undefined;
      },
      timeoutMs,
    );
  return { api, finished };
}

/** Starts `model-hub <command>` from the sources with `env` over this process's environment, output ignored. */
export function spawnHub(
  command: 'serve' | 'worker',
  env: Record<string, string>,
  /** `pipe` to read or save the process's output. */
  output: 'ignore' | 'pipe' = 'ignore',
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', command], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', output, output],
  });
}

/** `kill -9` of every child still running (test teardown). */
export function killAll(children: readonly ChildProcess[]): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  timeoutMs?: number;
  /** A built entry (`dist/src/cli.js`) run with plain node, instead of the sources under tsx. */
  entry?: string;
  /** The working directory (default: the repository). */
  cwd?: string;
  /** Called with each piece of standard output as it arrives. */
  onStdout?: (text: string) => void;
}

/** Runs `model-hub <args>` to its end, with its output captured (a pipe, not a TTY). */
export function runCli(
  args: string[],
  env: Record<string, string>,
  options: CliOptions = {},
): Promise<CliRun> {
  const root = path.resolve(import.meta.dirname, '../..');
  const { timeoutMs = 60_000, entry, cwd = root, onStdout } = options;
  const command = entry ? [entry, ...args] : ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onStdout?.(String(d));
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`model-hub ${args.join(' ')} still running after ${timeoutMs} ms:\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A `model-hub serve` process that a test kills and starts again on one port, store and backend
 * (its own database or key prefix, per `MODEL_HUB_TEST_BACKEND`): what a crash and a restart leave.
 */
export interface RestartableHub {
  readonly base: string;
  readonly storePath: string;
  /** Starts the server; resolves once `/healthz` answers. */
  start(): Promise<ChildProcess>;
  /** `kill -9`, resolved once the process is gone. */
  crash(child: ChildProcess): Promise<void>;
  /** Kills what still runs, drops the backend and removes the store. */
  close(): Promise<void>;
}

export async function startRestartableHub(
  upstreamUrl: string,
  /** Settings over the shared ones (port, store, upstream, a 2 s job lease, `warn` logs). */
  env: Record<string, string> = {},
): Promise<RestartableHub> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-restart-'));
  const storePath = path.join(workDir, 'store');
  const backend = await createBackend();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  return {
    base,
    storePath,
    async start() {
      const child = spawnHub('serve', {
        ...backend.env,
        // Distributed mode: the restarted server may take the dead one's job once its lease lapses.
        JOB_LEASE_MS: '2000',
        PORT: String(port),
        MODEL_STORE_PATH: storePath,
        HF_ENDPOINT: upstreamUrl,
        LOG_LEVEL: 'warn',
        ...env,
      });
      children.push(child);
      await waitFor('the server', async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined));
      return child;
    },
    async crash(child) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      killAll(children);
      await backend.drop();
      await fs.rm(workDir, { recursive: true, force: true });
    },
  };
}
