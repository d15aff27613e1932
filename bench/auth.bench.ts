/**
 * `npm run bench:auth`: what checking API keys costs. A real `serve` process (embedded, loopback)
 * with 50 registered models answers `GET /v1/hub/models` to a load generator in this process
 * (undici pool, BENCH_AUTH_CONNECTIONS=16), alternating rounds: open (no key exists) and with a key
 * (one exists; every request carries it). Between rounds the key is created or revoked in the
 * database, and the server's 2 s key cache is given time to see it. Prints requests/s per round, the
 * medians and their ratio; asserts nothing about speed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { loadConfig } from '../src/config.js';
import { databaseKeys } from '../src/keys-command.js';
import { freePort, waitFor } from '../test/support/child-server.js';

const ROUNDS = Number(process.env.BENCH_AUTH_ROUNDS ?? 3);
const ROUND_MS = Number(process.env.BENCH_AUTH_ROUND_MS ?? 4000);
const CONNECTIONS = Number(process.env.BENCH_AUTH_CONNECTIONS ?? 16);

const store = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-bench-auth-'));
const port = await freePort();
const env = {
  MODEL_STORE_PATH: store,
  HOST: '127.0.0.1',
  PORT: String(port),
  LOG_LEVEL: 'warn',
  HF_ENDPOINT: 'http://127.0.0.1:9',
};
const keys = databaseKeys(loadConfig(env));
const base = `http://127.0.0.1:${port}`;
let server: ChildProcess | undefined;
const pool = new Pool(base, { connections: CONNECTIONS, pipelining: 1 });

async function load(authorization: string | undefined, expectStatus: number): Promise<number> {
  const headers = authorization ? { authorization } : {};
  let done = 0;
  let wrong = 0;
  const until = Date.now() + ROUND_MS;
  const worker = async () => {
    while (Date.now() < until) {
      const response = await pool.request({ method: 'GET', path: '/v1/hub/models', headers });
      await response.body.arrayBuffer();
      if (response.statusCode === expectStatus) done++;
      else wrong++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const seconds = (performance.now() - started) / 1000;
  if (wrong > 0) throw new Error(`${wrong} answers were not ${expectStatus}`);
  return done / seconds;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

try {
  server = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor('the hub', async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined));
  for (let i = 0; i < 50; i++) {
    const response = await fetch(`${base}/v1/hub/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vendor: 'Bench', name: `m${i}`, source_repo_id: `bench/model-${i}` }),
    });
    if (response.status !== 201) throw new Error(`register answered ${response.status}`);
  }
  await load(undefined, 200); // warm-up

  const open: number[] = [];
  const keyed: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    open.push(await load(undefined, 200));
    const created = await keys.create('read', 'bench');
    await sleep(2500);
    keyed.push(await load(`Bearer ${created.key}`, 200));
    await keys.revoke(created.id);
    await sleep(2500);
    console.log(
      `round ${round + 1}: no key (open) ${open.at(-1)?.toFixed(0)} req/s, with a read key ${keyed.at(-1)?.toFixed(0)} req/s`,
    );
  }
  const ratio = median(keyed) / median(open);
  console.log(
    `GET /v1/hub/models, 50 models, ${CONNECTIONS} connections, ${ROUND_MS / 1000} s rounds: ` +
      `median ${median(open).toFixed(0)} req/s open, ${median(keyed).toFixed(0)} req/s with a key ` +
      `(${ratio.toFixed(3)}×, key checking costs ${((1 - ratio) * 100).toFixed(1)}%)`,
  );
} finally {
  await pool.close();
  server?.kill('SIGTERM');
  await fs.rm(store, { recursive: true, force: true });
}
