import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The official Python client (`huggingface_hub`), installed from local wheels into a venv that is
 * made once and kept under node_modules/.cache (keyed by the client's version), then run as small
 * scripts pointed at a hub with HF_ENDPOINT.
 */
export const PYTHON_CLIENT_VERSION = '1.33.0';
export const WHEELS = '/opt/pypi/files';
const WHEEL = path.join(WHEELS, `huggingface_hub-${PYTHON_CLIENT_VERSION}-py3-none-any.whl`);
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/model-hub-hf-venv', import.meta.url));
export const VENV = path.join(CACHE, `huggingface_hub-${PYTHON_CLIENT_VERSION}`);
const READY = path.join(VENV, '.ready');
const LOCK = `${VENV}.lock`;
/** A lock older than this belongs to a run that died while installing. */
const STALE_LOCK_MS = 180_000;

const run = promisify(execFile);

/** Why the Python-client suite cannot run here, or undefined when it can (read by vitest.config.ts). */
export function pythonClientUnavailable(): string | undefined {
  try {
    execFileSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return 'python3 with the venv module not found';
  }
  if (!fs.existsSync(WHEEL)) return `${WHEEL} not found`;
  return undefined;
}

function takeLock(): boolean {
  try {
    fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - fs.statSync(LOCK).mtimeMs > STALE_LOCK_MS) fs.rmSync(LOCK, { force: true });
    } catch {
      // Gone between the two calls: the next round takes it.
    }
    return false;
  }
}

/**
 * The venv's python, creating the venv first if no run has yet. Concurrent callers (both vitest
 * projects) agree through a lock file: one installs, the others wait for its `.ready` marker.
 */
export async function ensurePythonClient(timeoutMs = 120_000): Promise<string> {
  const python = path.join(VENV, 'bin', 'python');
  const deadline = Date.now() + timeoutMs;
  fs.mkdirSync(CACHE, { recursive: true });
  while (!fs.existsSync(READY)) {
    if (takeLock()) {
      try {
        if (!fs.existsSync(READY)) {
          fs.rmSync(VENV, { recursive: true, force: true });
          await run('python3', ['-m', 'venv', VENV], { timeout: 60_000 });
          await run(
            python,
            [
              '-m',
              'pip',
              'install',
              '--quiet',
              '--disable-pip-version-check',
              '--no-index',
              '--find-links',
              WHEELS,
              `huggingface_hub==${PYTHON_CLIENT_VERSION}`,
            ],
            { timeout: 120_000 },
          );
          fs.writeFileSync(READY, PYTHON_CLIENT_VERSION);
        }
      } finally {
        fs.rmSync(LOCK, { force: true });
      }
    } else {
      if (Date.now() > deadline) throw new Error(`${VENV} still being created after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return python;
}

export interface PythonResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PythonRun {
  /** The hub's base URL (HF_ENDPOINT). */
  endpoint: string;
  /** HF_HUB_CACHE. */
  cacheDir: string;
  /** HF_TOKEN; unset (and no stored token) otherwise. */
  token?: string;
  args?: string[];
  timeoutMs?: number;
}

function clientEnv({ endpoint, cacheDir, token }: PythonRun): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: path.join(cacheDir, 'home'),
    HF_HOME: path.join(cacheDir, 'hf-home'),
    HF_ENDPOINT: endpoint,
    HF_HUB_CACHE: cacheDir,
    HF_HUB_DISABLE_TELEMETRY: '1',
    HF_HUB_DISABLE_PROGRESS_BARS: '1',
    HF_HUB_DISABLE_UPDATE_CHECK: '1',
    NO_COLOR: '1',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  if (token !== undefined) env.HF_TOKEN = token;
  return env;
}

async function runIn(file: string, args: string[], options: PythonRun): Promise<PythonResult> {
  try {
    const { stdout, stderr } = await run(file, args, {
      env: clientEnv(options),
      timeout: options.timeoutMs ?? 30_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
    if (typeof failed.code !== 'number') throw new Error(`${file}: ${String(e)}`);
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Runs a Python script (`sys.argv[1:]` = `args`) with the client's environment. */
export async function runPython(script: string, options: PythonRun): Promise<PythonResult> {
  const python = await ensurePythonClient();
  return runIn(python, ['-c', script, ...(options.args ?? [])], options);
}

/** The `hf` CLI of the venv, or undefined when this client version does not install it. */
export function hfCli(): string | undefined {
  const cli = path.join(VENV, 'bin', 'hf');
  return fs.existsSync(cli) ? cli : undefined;
}

export async function runHfCli(cli: string, options: PythonRun): Promise<PythonResult> {
  return runIn(cli, options.args ?? [], options);
}
