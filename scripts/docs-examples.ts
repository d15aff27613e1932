/**
 * `npm run docs:examples`: makes every example output in README.md and docs/*.md from one run.
 *
 * It starts the fake Hugging Face hub with its demo repos and a Model Hub server from the built
 * `dist/` (on a free port, a temp store), runs the walkthrough's commands — the CLI as
 * `node dist/src/cli.js …`, HTTP requests through fetch, printed as `curl` prints them — and
 * writes each command with its output between markers in the markdown:
 *
 *     <!-- example: register -->
 *     ```console
 *     $ model-hub register Wan-AI/Wan2.1-T2V-1.3B
 *     …output…
 *     ```
 *     <!-- /example -->
 *
 * The commands read the hub's address from `$MODEL_HUB_URL` and the store from `$MODEL_STORE_PATH`,
 * which the script sets to its own server and temp store, so each shown command is the one it ran.
 *
 * `--check` writes nothing: it compares each block with a fresh run after `normalise` (which masks
 * ids, times, durations, speeds, ports and temp paths) and exits 1 naming every example that
 * drifted, with a diff. test/docs/examples.test.ts calls `checkDocs` in-process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { addDemoRepos, WAN_COPY_REPO, WAN_REPO } from '../test/fake-hub/demo.js';
import { type FakeHub, startFakeHub } from '../test/fake-hub/fake-hub.js';
import { freePort, runCli, waitFor } from '../test/support/child-server.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
/** Prefix of the temp directory; `normalise` masks it. */
const TEMP_PREFIX = 'model-hub-docs-';
/** Each example's command and output lines, by marker id. */
export type Examples = Map<string, string>;

// ---------------------------------------------------------------------------------------------
// Markdown: the blocks between markers
// ---------------------------------------------------------------------------------------------

const BLOCK = /<!-- example: ([a-z0-9-]+) -->\n```console\n([\s\S]*?)```\n<!-- \/example -->/g;
const OPENING = /<!-- example: ([a-z0-9-]+) -->/g;

export interface ExampleBlock {
  id: string;
  /** The fenced block's content: `$ command` lines and their output. */
  body: string;
}

/** Every marked block of a markdown text; an opening marker without a well-formed block is an error. */
export function findBlocks(markdown: string, file = 'markdown'): ExampleBlock[] {
  const blocks = [...markdown.matchAll(BLOCK)].map((m) => ({ id: m[1] as string, body: m[2] as string }));
  const openings = [...markdown.matchAll(OPENING)].map((m) => m[1]);
  if (openings.length !== blocks.length) {
    const broken = openings.filter((id) => !blocks.some((b) => b.id === id));
    throw new Error(
      `${file}: example marker(s) ${broken.join(', ') || '(duplicate)'} must be followed by a \`\`\`console block and <!-- /example -->`,
    );
  }
  return blocks;
}

/** The markdown with every marked block's content replaced by its example; unknown ids throw. */
export function fillBlocks(markdown: string, examples: Examples, file = 'markdown'): string {
  findBlocks(markdown, file);
  return markdown.replace(BLOCK, (_whole, id: string) => {
    const body = examples.get(id);
    if (body === undefined)
      throw new Error(`${file}: no example named "${id}" (see scripts/docs-examples.ts)`);
    return `<!-- example: ${id} -->\n\`\`\`console\n${body}\`\`\`\n<!-- /example -->`;
  });
}

/** README.md and every docs/*.md, relative to the repository root. */
export async function docFiles(root = ROOT): Promise<string[]> {
  const docs = (await fs.readdir(path.join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

// ---------------------------------------------------------------------------------------------
// Normalising: what may differ between two honest runs
// ---------------------------------------------------------------------------------------------

/**
 * Lines whose order depends on which of several concurrent transfers ends first: files finishing,
 * and a job's timestamped log lines (written by the files' transfers as they end).
 */
const UNORDERED = [/^(done|failed) {2,}/, /^"?<time> /];

/**
 * Masks what differs between runs (UUIDs, timestamps, durations, speeds and rates, ports, temp paths, worker
 * ids, `date` headers), drops throttled `progress` lines, sorts runs of lines whose order is a race
 * (files finishing), and collapses column padding (which follows the width of masked values).
 */
export function normalise(text: string): string {
  const masked = text
    .replace(/\r\n/g, '\n')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?Z?/g, '<time>')
    .replace(/[^\s"'=]*\/model-hub-docs-[A-Za-z0-9]+/g, '<tmp>')
    .replace(/\b(127\.0\.0\.1|localhost|\[::1\]):\d+/g, '$1:<port>')
    .replace(/\bmh_[A-Za-z0-9_-]{6,}/g, '<key>')
    .replace(/\b[\w.-]+:\d+:[0-9a-f]{8}\b/g, '<worker>')
    .replace(/"(bytes_per_second|eta_seconds|deep_hash_mb_per_second)": ?[\d.]+/g, '"$1":<n>')
    .replace(/\bdeep_hash_mb_per_second=[\d.]+/g, 'deep_hash_mb_per_second=<n>')
    .replace(/"next_cursor": ?"[^"]+"/g, '"next_cursor":"<cursor>"')
    .replace(/\bover \d+ connections\b/g, 'over <n> connections')
    .replace(/\b\d+(\.\d+)? ?[kKMGT]?i?B\/s\b/g, '<speed>')
    .replace(/\b\d+(\.\d+)? (files|lines|jobs|req)\/s\b/g, '<rate>')
    .replace(/\b\d+(\.\d+)? ?(ms|s|min|h)\b/g, '<duration>')
    .replace(/^(date|last-modified): .*$/gim, '$1: <date>')
    .replace(/^(model_hub_\w+_seconds_(sum|bucket|count)\S*) .*$/gm, '$1 <n>');
  const lines = masked
    .split('\n')
    .filter((line) => !/^progress /.test(line))
    .map((line) =>
      line
        .replace(/(\S) {2,}/g, '$1  ')
        .replace(/\s+$/, '')
        .replace(/,$/, ''),
    );
  const out: string[] = [];
  let run: string[] = [];
  const flush = () => {
    out.push(...run.sort());
    run = [];
  };
  for (const line of lines) {
    if (UNORDERED.some((re) => re.test(line.trim()))) run.push(line);
    else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out.join('\n').trim();
}

/** A line diff of two texts (`-` only in the docs, `+` only in the fresh run), for drift reports. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      (lcs[i] as number[])[j] =
        a[i] === b[j]
          ? ((lcs[i + 1] as number[])[j + 1] as number) + 1
          : Math.max((lcs[i + 1] as number[])[j] as number, (lcs[i] as number[])[j + 1] as number);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (
      j < b.length &&
      (i >= a.length || ((lcs[i] as number[])[j + 1] as number) >= ((lcs[i + 1] as number[])[j] as number))
    ) {
      out.push(`+ ${b[j]}`);
      j++;
    } else {
      out.push(`- ${a[i]}`);
      i++;
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/** Quotes a shell word only when it needs it, as a person would type it. */
function shellWord(word: string): string {
  return /^[\w./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One example: `$ command` lines, each followed by what it printed. */
class Block {
  private text = '';
  add(command: string, output: string): this {
    this.text += `$ ${command}\n${output}${output === '' || output.endsWith('\n') ? '' : '\n'}`;
    return this;
  }
  toString(): string {
    return this.text;
  }
}

interface Session {
  base: string;
  storePath: string;
  workDir: string;
  hub: FakeHub;
}

type Json = Record<string, unknown>;

interface HttpAnswer {
  status: number;
  text: string;
  /** The answer parsed, or `{}` when it is not a JSON object. */
  json: Json;
}

const itemsOf = (json: Json): Json[] => (Array.isArray(json.items) ? (json.items as Json[]) : []);

function client(session: Session) {
  const env = {
    MODEL_HUB_URL: session.base,
    MODEL_STORE_PATH: session.storePath,
    HF_ENDPOINT: session.hub.url,
    LOG_LEVEL: 'warn',
    NO_COLOR: '1',
  };

  /** `model-hub <args>` from dist/, its stdout then stderr, as a pipe shows them. */
  const cli = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const run = await runCli(args, { ...env, ...extraEnv }, { entry: CLI, cwd: session.workDir });
    return { code: run.code, output: run.stdout + run.stderr };
  };

  /** The command line `model-hub …` for the docs. */
  const cliText = (args: string[], prefix = '') => `${prefix}model-hub ${args.map(shellWord).join(' ')}`;

  const request = async (method: string, url: string, body?: unknown): Promise<HttpAnswer> => {
    const response = await fetch(`${session.base}${url}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    let json: Json = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) json = parsed as Json;
    } catch {
      // Not JSON (a health answer, metrics): `text` is what is shown.
    }
    return { status: response.status, text, json };
  };

  /** The `curl` command line for a request, against `$MODEL_HUB_URL`. */
  const curlText = (method: string, url: string, body?: unknown) => {
    const target = url.includes('?') ? `"$MODEL_HUB_URL${url}"` : `$MODEL_HUB_URL${url}`;
    if (method === 'GET') return `curl -s ${target}`;
    const data =
      body === undefined ? '' : ` -H 'content-type: application/json' -d ${shellWord(JSON.stringify(body))}`;
    return `curl -s -X ${method} ${target}${data}`;
  };

  const finished = (jobId: string) =>
    waitFor(`job ${jobId}`, async () => {
      const { json } = await request('GET', `/v1/hub/jobs/${jobId}`);
      return ['completed', 'failed', 'cancelled'].includes(String(json.status)) ? json : undefined;
    });

  return { cli, cliText, request, curlText, finished };
}

/** `jq .` (two-space indent, like jq's default). */
const jqPretty = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
/** `jq -c` of each value. */
const jqCompact = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');
const pick = (object: Record<string, unknown>, keys: string[]) =>
  Object.fromEntries(keys.map((k) => [k, object[k] ?? null]));

/** `curl -sI`: the status line and the headers in wire order. */
function headRequest(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'HEAD' }, (res) => {
      const lines = [`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`];
      for (let i = 0; i < res.rawHeaders.length; i += 2)
        lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
      res.resume();
      res.on('end', () => resolve(`${lines.join('\n')}\n`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `curl -sN --max-time …` of an event stream: everything up to (and including) the job's last event. */
function readEventStream(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let text = '';
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no terminal event on ${url}:\n${text}`));
      }, 10_000);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (/event: job\.(completed|failed|cancelled)\ndata: .*\n\n/.test(text)) {
          clearTimeout(timer);
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
  });
}

/** Runs the walkthrough once and returns every example, by marker id. */
export async function produceExamples(log: (line: string) => void = () => {}): Promise<Examples> {
  await fs.access(CLI).catch(() => {
    throw new Error(`${CLI} is missing: run \`npm run build\` (or node scripts/build-if-stale.mjs) first`);
  });
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  const storePath = path.join(workDir, 'store');
  const hub = await startFakeHub();
  let server: ChildProcess | undefined;
  let serverOutput = '';
  try {
    // The demo repos' contents are hashed while the server starts.
    const demoRepos = addDemoRepos(hub);
    demoRepos.catch(() => {}); // awaited below
    const port = await freePort();
    const session: Session = { base: `http://127.0.0.1:${port}`, storePath, workDir, hub };
    server = spawn(process.execPath, [CLI, 'serve'], {
      cwd: workDir,
      env: {
        ...process.env,
        PORT: String(port),
        MODEL_STORE_PATH: storePath,
        HF_ENDPOINT: hub.url,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (d) => {
      serverOutput += d;
    });
    server.stderr?.on('data', (d) => {
      serverOutput += d;
    });
    await Promise.all([
      demoRepos,
      waitFor('the server to answer /healthz', async () =>
        (await fetch(`${session.base}/healthz`)).ok ? true : undefined,
      ),
    ]);
    log(`server on ${session.base}, fake hub on ${hub.url}, store ${storePath}`);
    return await walkthrough(session, log);
  } catch (error) {
    if (serverOutput) (error as Error).message += `\nserver output:\n${serverOutput}`;
    throw error;
  } finally {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
    await hub.close();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

async function walkthrough(session: Session, log: (line: string) => void): Promise<Examples> {
  const { cli, cliText, request, curlText, finished } = client(session);
  const examples: Examples = new Map();
  // Independent of the rest (the server refuses to start), so it runs meanwhile.
  const badConfig = cli(['serve'], { PORT: 'eighty' });
  badConfig.catch(() => {}); // awaited below; this only keeps an early failure elsewhere from leaving it unhandled
  const put = (id: string, block: Block) => {
    examples.set(id, block.toString());
    log(`example ${id}`);
  };
  const run = async (block: Block, args: string[], display = cliText(args)) => {
    const { output } = await cli(args);
    block.add(display, output);
    return output;
  };
  const curl = async (block: Block, method: string, url: string, body?: unknown) => {
    const answer = await request(method, url, body);
    block.add(curlText(method, url, body), answer.text);
    return answer;
  };
  /** `curl … | jq <filter>`: the request, and `shape` applied as jq would print it. */
  const curlJq = async (
    block: Block,
    url: string,
    filter: string,
    shape: (json: Json) => string,
  ): Promise<HttpAnswer> => {
    const answer = await request('GET', url);
    block.add(`${curlText('GET', url)} | jq ${shellWord(filter)}`, shape(answer.json));
    return answer;
  };
  const jobIdOf = (output: string) => {
    const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(output)?.[1];
    if (!id) throw new Error(`no job id in:\n${output}`);
    return id;
  };

  // The walkthrough (README)
  const register = new Block();
  await run(register, ['register', WAN_REPO]);
  put('register', register);

  const syncBlock = new Block();
  const syncOutput = await run(syncBlock, ['sync', WAN_REPO, '--wait']);
  const syncJobId = jobIdOf(syncOutput);
  put('sync', syncBlock);

  const before = new Block();
  await run(before, ['artifacts', WAN_REPO]);
  put('artifacts', before);

  const downloadBlock = new Block();
  const downloadArgs = ['download', WAN_REPO, '--wait'];
  const downloadOutput = await run(downloadBlock, downloadArgs, `${cliText(downloadArgs)} | cat`);
  const downloadJobId = jobIdOf(downloadOutput);
  put('download', downloadBlock);

  const files = new Block();
  await run(files, ['artifacts', WAN_REPO]);
  const blobs = (await fs.readdir(path.join(session.storePath, 'blobs', 'sha256'))).sort();
  files.add('ls "$MODEL_STORE_PATH"/blobs/sha256', `${blobs.join('\n')}\n`);
  put('files', files);

  const models = new Block();
  await run(models, ['models']);
  put('models', models);

  const jobs = new Block();
  await run(jobs, ['jobs']);
  put('jobs', jobs);

  const job = new Block();
  await run(job, ['job', downloadJobId]);
  put('job', job);

  const hf = new Block();
  hf.add(
    `curl -sI $MODEL_HUB_URL/${WAN_REPO}/resolve/main/config.json`,
    await headRequest(`${session.base}/${WAN_REPO}/resolve/main/config.json`),
  );
  put('hf-resolve', hf);

  const modelInfo = new Block();
  await curlJq(modelInfo, `/api/models/${WAN_REPO}`, '{id, sha, siblings: [.siblings[].rfilename]}', (json) =>
    jqPretty({
      id: json.id,
      sha: json.sha,
      siblings: (json.siblings as Json[]).map((s) => s.rfilename),
    }),
  );
  put('hf-model-info', modelInfo);

  // The HTTP API (docs/http-api.md)
  const listed = await request('GET', '/v1/hub/models');
  const wanId = String(itemsOf(listed.json).find((m) => m.repo_id === WAN_REPO)?.id);

  const apiSync = new Block();
  await curlJq(apiSync, `/v1/hub/jobs/${syncJobId}`, '.', jqPretty);
  put('api-sync-job', apiSync);

  const apiArtifacts = new Block();
  await curlJq(
    apiArtifacts,
    `/v1/hub/models/${wanId}/artifacts`,
    '.items[] | {path, size, file_type, download_status}',
    (json) => jqCompact(itemsOf(json).map((a) => pick(a, ['path', 'size', 'file_type', 'download_status']))),
  );
  await curlJq(
    apiArtifacts,
    `/v1/hub/models/${wanId}/artifacts`,
    '.items[] | select(.path == "config.json")',
    (json) => jqPretty(itemsOf(json).find((a) => a.path === 'config.json')),
  );
  put('api-artifacts', apiArtifacts);

  // The copy's sync meets an upstream that fails twice: its retries are in the job's log (docs/cli.md).
  const retries = new Block();
  const fault = { file_path: 'README.md', status: 503, retry_after_seconds: 1, times: 2 };
  const armed = await fetch(`${session.hub.url}/_control/faults`, {
    method: 'POST',
    body: JSON.stringify(fault),
  });
  retries.add(
    `curl -s -X POST http://127.0.0.1:9000/_control/faults -d '${JSON.stringify(fault)}'`,
    await armed.text(),
  );

  const apiRegister = new Block();
  const copy = await curl(apiRegister, 'POST', '/v1/hub/register', {
    vendor: 'demo',
    name: 'copy-of-wan',
    source_repo_id: WAN_COPY_REPO,
    auto_sync: true,
  });
  put('api-register', apiRegister);
  await finished(String(copy.json.sync_job_id));
  await run(retries, ['job', String(copy.json.sync_job_id)]);
  put('job-retries', retries);

  const apiDownload = new Block();
  const queued = await curl(apiDownload, 'POST', '/v1/hub/download', { repo_id: WAN_COPY_REPO });
  await finished(String(queued.json.job_id));
  await curlJq(
    apiDownload,
    `/v1/hub/jobs/${String(queued.json.job_id)}`,
    '{type, status, result, logs}',
    (json) => jqPretty(pick(json, ['type', 'status', 'result', 'logs'])),
  );
  put('api-download', apiDownload);

  const apiErrors = new Block();
  await curl(apiErrors, 'POST', '/v1/hub/register', {
    vendor: 'nobody',
    name: 'nothing',
    source_repo_id: 'nobody/nothing',
  });
  await curl(apiErrors, 'POST', '/v1/hub/register', {
    vendor: 'Wan-AI',
    name: 'again',
    source_repo_id: WAN_REPO,
  });
  await curl(apiErrors, 'GET', '/v1/hub/jobs/nope');
  await curl(apiErrors, 'POST', '/v1/hub/sync', { repo_id: 'nobody/nothing' });
  put('api-errors', apiErrors);

  const apiJobs = new Block();
  await curlJq(apiJobs, '/v1/hub/jobs?limit=2', '.', jqPretty);
  put('api-jobs', apiJobs);

  const storage = new Block();
  await curlJq(
    storage,
    '/v1/hub/storage',
    '{blob_count, blob_bytes, logical_bytes, dedup_saved_bytes, models}',
    (json) =>
      jqPretty(pick(json, ['blob_count', 'blob_bytes', 'logical_bytes', 'dedup_saved_bytes', 'models'])),
  );
  put('storage', storage);

  // Events (docs/events-and-webhooks.md)
  // The copy's sync: one metadata file, so its events come in one order.
  const copySyncJobId = String(copy.json.sync_job_id);
  const sse = new Block();
  sse.add(
    `curl -sN --max-time 2 $MODEL_HUB_URL/v1/hub/jobs/${copySyncJobId}/events`,
    await readEventStream(`${session.base}/v1/hub/jobs/${copySyncJobId}/events`),
  );
  put('sse', sse);

  // Operations (docs/operations.md)
  const scan = new Block();
  const scanQueued = await curl(scan, 'POST', '/v1/hub/scan', { deep: true });
  await run(scan, ['watch', String(scanQueued.json.job_id)]);
  const gcQueued = await curl(scan, 'POST', '/v1/hub/gc', {});
  await run(scan, ['watch', String(gcQueued.json.job_id)]);
  put('scan-gc', scan);

  const health = new Block();
  await curl(health, 'GET', '/healthz');
  await curl(health, 'GET', '/readyz');
  const metrics = await request('GET', '/metrics');
  const wanted =
    /^model_hub_(artifacts_completed_total|jobs_finished_total|store_blobs|store_bytes|queue_depth)\b/;
  health.add(
    `curl -s $MODEL_HUB_URL/metrics | grep -E '^model_hub_(artifacts_completed_total|jobs_finished_total|store_blobs|store_bytes|queue_depth)\\b'`,
    `${metrics.text
      .split('\n')
      .filter((line) => wanted.test(line))
      .join('\n')}\n`,
  );
  put('health-metrics', health);

  const exportBlock = new Block();
  await run(exportBlock, ['export', WAN_REPO, './hf-cache']);
  await run(exportBlock, ['export', WAN_REPO, './flat', '--layout', 'flat']);
  put('export', exportBlock);

  // Last, since they change the hub: a webhook (its deliveries) and the first API key (access control).
  const webhook = new Block();
  await curl(webhook, 'POST', '/v1/hub/webhooks', {
    url: 'http://127.0.0.1:9100/',
    events: ['job.completed', 'job.failed'],
    secret: 'a-long-random-string-of-16+-chars',
  });
  put('webhook-register', webhook);

  const keys = new Block();
  const created = await cli(['keys', 'create', '--scope', 'admin', '--name', 'ops']);
  keys.add(cliText(['keys', 'create', '--scope', 'admin', '--name', 'ops']), created.output);
  const key = /\bmh_[A-Za-z0-9_-]{43}\b/.exec(created.output)?.[0];
  if (!key) throw new Error(`no key in:\n${created.output}`);
  // A key made in the database reaches the running hub within 2 s.
  const refused = await waitFor('the hub to require the new key', async () => {
    const answer = await request('GET', '/v1/hub/models');
    return answer.status === 401 ? answer : undefined;
  });
  keys.add(curlText('GET', '/v1/hub/models'), refused.text);
  const { output: keyList } = await cli(['--key', key, 'keys', 'list']);
  keys.add(cliText(['--key', key, 'keys', 'list']), keyList);
  put('keys', keys);

  // Configuration (docs/configuration.md)
  const config = new Block();
  const bad = await badConfig;
  config.add(
    `PORT=eighty ${cliText(['serve'])}; echo "exit code $?"`,
    `${bad.output}exit code ${bad.code}\n`,
  );
  put('config-error', config);

  return examples;
}

// ---------------------------------------------------------------------------------------------
// Write and check
// ---------------------------------------------------------------------------------------------

export interface Drift {
  file: string;
  id: string;
  diff: string;
}

/** Compares every marked block with `examples` after normalising; also reports unknown and unused ids. */
export async function compareDocs(
  examples: Examples,
  root = ROOT,
): Promise<{ drifts: Drift[]; problems: string[] }> {
  const drifts: Drift[] = [];
  const problems: string[] = [];
  const used = new Set<string>();
  for (const file of await docFiles(root)) {
    const markdown = await fs.readFile(path.join(root, file), 'utf8');
    for (const block of findBlocks(markdown, file)) {
      used.add(block.id);
      const fresh = examples.get(block.id);
      if (fresh === undefined) {
        problems.push(`${file}: no example named "${block.id}"`);
        continue;
      }
      const documented = normalise(block.body);
      const produced = normalise(fresh);
      if (documented !== produced) drifts.push({ file, id: block.id, diff: lineDiff(documented, produced) });
    }
  }
  for (const id of examples.keys()) if (!used.has(id)) problems.push(`example "${id}" is in no document`);
  return { drifts, problems };
}

/** Runs the examples and compares them with the docs (the test's entry point). */
export async function checkDocs(root = ROOT): Promise<{ drifts: Drift[]; problems: string[] }> {
  return compareDocs(await produceExamples(), root);
}

/** Writes every example into the docs; returns the files that changed. */
export async function writeDocs(examples: Examples, root = ROOT): Promise<string[]> {
  const changed: string[] = [];
  for (const file of await docFiles(root)) {
    const full = path.join(root, file);
    const markdown = await fs.readFile(full, 'utf8');
    const filled = fillBlocks(markdown, examples, file);
    if (filled !== markdown) {
      await fs.writeFile(full, filled);
      changed.push(file);
    }
  }
  return changed;
}

export function describeDrift({ drifts, problems }: { drifts: Drift[]; problems: string[] }): string {
  return [
    ...problems,
    ...drifts.map(
      (d) =>
        `${d.file}: example "${d.id}" differs from a fresh run (after masking; - docs, + run):\n${d.diff}`,
    ),
  ].join('\n\n');
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const examples = await produceExamples((line) => process.stderr.write(`${line}\n`));
  if (check) {
    const result = await compareDocs(examples);
    if (result.drifts.length > 0 || result.problems.length > 0) {
      process.stderr.write(`${describeDrift(result)}\n\nRun \`npm run docs:examples\` to update the docs.\n`);
      process.exit(1);
    }
    process.stdout.write('docs examples match a fresh run\n');
    return;
  }
  const { problems } = await compareDocs(examples);
  const changed = await writeDocs(examples);
  process.stdout.write(changed.length ? `updated ${changed.join(', ')}\n` : 'docs already up to date\n');
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
