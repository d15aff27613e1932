import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeHub, startFakeHub } from '../fake-hub/fake-hub.js';
import { type Backend, createBackend } from '../support/backend.js';
import { type CliRun, freePort, killAll, runCli, waitFor } from '../support/child-server.js';
import { MiB } from '../support/download-helpers.js';

/**
 * The `model-hub` client commands end to end: a real server process on a temp store against the fake
 * hub, and the CLI run as a child process with piped (non-TTY) output, exactly as a CI script runs it.
 */
const root = path.resolve(import.meta.dirname, '../..');
const DEMO = 'cli/demo';
const GATED = 'cli/gated';
/** Its config.json answers 503 to the first GETs of a sync (see the retry test). */
const FLAKY = 'cli/flaky';
const BIG_FILE = 'weights/model.safetensors';
/** A repo whose file names carry terminal controls: a C0 byte, an ESC colour sequence, a bidi override. */
const HOSTILE = 'cli/hostile';
const HOSTILE_FILES = ['evil\u0001name.json', 'esc\u001b[31mred.json', 'bidi\u202etxt.json'];
/** What a terminal would act on (see terminalSafe); none of it may reach the CLI's output raw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
let hub: FakeHub;
let backend: Backend;
let workDir: string;
let base: string;
let serverOutput = '';
const children: ChildProcess[] = [];

/** `model-hub <args>` with MODEL_HUB_URL pointing at the test server; resolves when it exits. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { MODEL_HUB_URL: base, ...env });
}

const lines = (text: string) => text.trimEnd().split('\n');

beforeAll(async () => {
  hub = await startFakeHub({ throttleBytesPerSecond: 4 * MiB });
  await hub.addRepo({
    id: DEMO,
    files: [
      { path: 'config.json', content: '{"model_type": "demo"}\n' },
      { path: 'README.md', content: '# Demo\n' },
      { path: 'tokenizer.json', content: '{"version": "1.0"}\n' },
      { path: BIG_FILE, content: { size: 8 * MiB, seed: 'cli-e2e' } },
    ],
  });
  await hub.addRepo({
    id: FLAKY,
    files: [
      { path: 'config.json', content: '{"model_type": "flaky"}\n' },
      { path: 'README.md', content: '# Flaky\n' },
    ],
  });
  await hub.addRepo({
    id: HOSTILE,
    files: HOSTILE_FILES.map((name) => ({ path: name, content: '{}\n' })),
  });
  await hub.addRepo({
    id: GATED,
    gated: true,
    files: [
      { path: 'config.json', content: '{}\n' },
      { path: 'weights.safetensors', content: { size: MiB, seed: 'gated' } },
    ],
  });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-cli-'));
  backend = await createBackend();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      ...backend.env,
      PORT: String(port),
      MODEL_STORE_PATH: path.join(workDir, 'store'),
      HF_ENDPOINT: hub.url,
      LOG_LEVEL: 'warn',
      UPSTREAM_RETRY_BASE_MS: '20',
    },
  });
  children.push(server);
  server.stdout?.on('data', (d) => {
    serverOutput += d;
  });
  server.stderr?.on('data', (d) => {
    serverOutput += d;
  });
  await waitFor(
    'the server to answer /healthz',
    async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined),
    120_000,
    () => `; server output:\n${serverOutput}`,
  );
}, 150_000);

afterAll(async () => {
  killAll(children);
  await hub?.close();
  await backend?.drop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

describe('model-hub client commands against a running hub', () => {
  it('registers a repo, taking vendor and name from the repo id, and refuses it twice', async () => {
    const first = await cli(['register', DEMO]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^Registered cli\/demo as cli\/demo \(revision main, id [0-9a-f-]{36}\)\n$/);

    // The page URL copied from the browser names the same repo.
    const again = await cli(['register', `https://huggingface.co/${DEMO}/tree/main`]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/^error: .*cli\/demo.* \(REPO_ALREADY_REGISTERED\)\n$/);

    const unclear = await cli(['register', 'gpt2']);
    expect(unclear.code).toBe(1);
    expect(unclear.stderr).toMatch(
      /^error: .*expected a repo id such as .* \(owner\/name\) or its page URL, got "gpt2"/,
    );
  }, 60_000);

  it('syncs with --wait: the job id, then the summary, exit 0', async () => {
    const sync = await cli(['sync', DEMO, '--wait']);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const out = lines(sync.stdout);
    expect(out[0]).toMatch(/^Sync job queued: [0-9a-f-]{36}$/);
    expect(out.at(-1)).toMatch(
      /^Sync job completed in [\d.]+ s: cli\/demo at [0-9a-f]{12}: 4 files \(4 created, 0 changed, 0 removed\)$/,
    );
  }, 60_000);

  it('lists models and artifacts as tables', async () => {
    const models = await cli(['models']);
    expect(models.code).toBe(0);
    const [header, row] = lines(models.stdout);
    expect(header).toMatch(/^REPO\s+REVISION\s+STATUS\s+COMMIT\s+LAST SYNCED$/);
    expect(row).toMatch(/^cli\/demo\s+main\s+synced\s+[0-9a-f]{12}\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);

    const artifacts = await cli(['artifacts', DEMO]);
    expect(artifacts.code).toBe(0);
    const table = lines(artifacts.stdout);
    expect(table[0]).toMatch(/^PATH\s+SIZE\s+TYPE\s+STATUS\s+SHA256$/);
    const info = await hub.fileInfo(DEMO, BIG_FILE);
    expect(table.find((l) => l.startsWith(BIG_FILE))).toMatch(
      new RegExp(`^${BIG_FILE}\\s+8\\.0 MiB\\s+model\\s+pending\\s+${info.sha256.slice(0, 12)}$`),
    );
    expect(table.at(-1)).toMatch(/^4 files, 8\.0 MiB; 3 downloaded$/);

    const unknown = await cli(['artifacts', 'no/such-repo']);
    expect(unknown).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: Repository no/such-repo is not registered (REPO_NOT_FOUND)\n',
    });
  }, 60_000);

  it('downloads with --wait: a line per file, progress lines, the summary, exit 0', async () => {
    const download = await cli(['download', DEMO, '--wait']);
    expect(download.stderr).toBe('');
    expect(download.code).toBe(0);
    const out = lines(download.stdout);
    expect(out[0]).toMatch(/^Download job queued for 4 artifact\(s\): [0-9a-f-]{36}$/);
    expect(out).toContain(`done    ${BIG_FILE} (8.0 MiB, downloaded)`);
    expect(out).toContain('done    config.json (23 B, already stored)');
    expect(out.filter((l) => l.startsWith('done    '))).toHaveLength(4);
    // 8 MiB at 4 MiB/s: at least one progress line while the big file is in flight.
    expect(out.some((l) => /^progress \d+% [\d.]+ [KM]?i?B of 8\.0 MiB, \d of 4 files/.test(l))).toBe(true);
    expect(out.at(-1)).toMatch(
      /^Download job completed in [\d.]+ s: 4 files, 8\.0 MiB \(1 downloaded, 0 deduplicated, 3 already present\)$/,
    );

    const artifacts = await cli(['artifacts', DEMO]);
    expect(lines(artifacts.stdout).at(-1)).toBe('4 files, 8.0 MiB; 4 downloaded');
  }, 60_000);

  it('prints the API JSON and NDJSON events with --json', async () => {
    // One pattern per --include: the repo id after it stays the argument.
    const download = await cli(['download', '--include', '*.json', DEMO, '--wait', '--json']);
    expect(download.code).toBe(0);
    const [accepted, ...events] = lines(download.stdout).map((l) => JSON.parse(l));
    expect(accepted).toMatchObject({
      status: 'pending',
      message: 'Download job queued for 2 artifact(s)',
    });
    expect(events.every((e) => e.job_id === accepted.job_id)).toBe(true);
    expect(events[0]).toMatchObject({ type: 'job.created', data: { type: 'download' } });
    expect(events.at(-1)).toMatchObject({
      type: 'job.completed',
      data: { result: { artifacts: 2, already_present: 2, failed: 0 } },
    });
    expect(
      events
        .filter((e) => e.type === 'artifact.completed')
        .map((e) => e.data.path)
        .sort(),
    ).toEqual(['config.json', 'tokenizer.json']);

    const models = JSON.parse((await cli(['models', '--json'])).stdout);
    expect(models.items.map((m: any) => m.repo_id)).toEqual([DEMO]);

    // A watch of the finished job replays its events and ends on the terminal one.
    const watch = await cli(['watch', accepted.job_id, '--json']);
    expect(watch.code).toBe(0);
    expect(lines(watch.stdout).map((l) => JSON.parse(l))).toEqual(events.filter((e) => e.id !== null));
  }, 60_000);

  it('shows jobs and one job with its timestamped logs', async () => {
    const jobs = await cli(['jobs', '--type', 'download', '--limit', '1']);
    expect(jobs.code).toBe(0);
    const [header, row, more] = lines(jobs.stdout);
    expect(header).toMatch(/^ID\s+TYPE\s+STATUS\s+CREATED\s+TOOK\s+ERROR$/);
    expect(row).toMatch(
      /^[0-9a-f-]{36}\s+download\s+completed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+[\d.]+ s$/,
    );
    expect(more).toBe('(more jobs: raise --limit)');

    const listed = JSON.parse((await cli(['jobs', '--type', 'download', '--json'])).stdout);
    const bigDownload = listed.items.find((j: any) => j.result?.downloaded === 1);
    const job = await cli(['job', bigDownload.id]);
    expect(job.code).toBe(0);
    expect(job.stdout).toContain(`Job       ${bigDownload.id}\nType      download\nStatus    completed\n`);
    expect(job.stdout).toMatch(
      /^Result {4}artifacts=4, downloaded=1, deduplicated=0, already_present=3, failed=0/m,
    );
    expect(job.stdout).toMatch(
      new RegExp(
        `^Logs\\n(  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z .+\\n)*  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z Downloaded ${BIG_FILE}: 8388608 bytes`,
        'm',
      ),
    );

    const missing = await cli(['job', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .+ \(JOB_NOT_FOUND\)\n$/);

    // Not a job id at all: told in the CLI's words before the hub is asked, not as a schema message.
    const nope = await cli(['watch', 'nope']);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toMatch(/expected a job id \(a UUID such as /);
    expect(nope.stderr).not.toMatch(/params|format "uuid"/);
  }, 60_000);

  it('exits 1 with the error when a download fails (gated repo, no token)', async () => {
    // Registering checks upstream, which refuses the gated repo to a hub without a token…
    const refused = await cli(['register', GATED]);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(
      /^error: Repository cli\/gated is gated on .*HF_TOKEN.* \(UPSTREAM_GATED\)\n$/,
    );
    // …so the download's own failure is reached with --no-verify.
    const register = await cli([
      'register',
      GATED,
      '--vendor',
      'Gated',
      '--name',
      'Model',
      '--sync',
      '--no-verify',
    ]);
    expect(register.code).toBe(0);
    const syncJobId = /Sync job queued: ([0-9a-f-]{36})/.exec(register.stdout)?.[1];
    expect(syncJobId).toBeDefined();
    expect((await cli(['watch', syncJobId as string])).code).toBe(0);

    const download = await cli(['download', GATED, '--include', '*.safetensors', '--wait']);
    expect(download.code).toBe(1);
    const out = lines(download.stdout);
    expect(out).toContainEqual(expect.stringMatching(/^failed {2}weights\.safetensors: .*restricted/));
    expect(out.at(-1)).toMatch(/^Download job failed after [\d.]+ s: 0 of 1 files done/);
    expect(download.stderr).toMatch(
      /^error: 1 of 1 artifact\(s\) failed: weights\.safetensors: .*restricted/,
    );
  }, 60_000);

  it('names the URL when no hub answers there, and rejects a bad --url', async () => {
    const port = await freePort();
    const down = await cli(['models'], { MODEL_HUB_URL: `http://127.0.0.1:${port}` });
    expect(down).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `error: cannot reach the model hub at http://127.0.0.1:${port} (ECONNREFUSED); is it running? Point --url or MODEL_HUB_URL at it\n`,
    });
    const viaOption = await cli(['--url', `http://127.0.0.1:${port}`, 'jobs']);
    expect(viaOption.stderr).toContain(`http://127.0.0.1:${port}`);
    const bad = await cli(['models', '--url', 'not a url']);
    expect(bad).toMatchObject({
      code: 1,
      stderr: 'error: --url must be an http(s) URL such as http://127.0.0.1:8000\n',
    });
  }, 60_000);

  it('prints upstream file names with their control characters escaped, never raw', async () => {
    expect((await cli(['register', HOSTILE])).code).toBe(0);
    const sync = await cli(['sync', HOSTILE, '--wait']);
    const artifacts = await cli(['artifacts', HOSTILE]);
    const jobId = /([0-9a-f-]{36})/.exec(sync.stdout)?.[1] ?? '';
    const job = await cli(['job', jobId]);
    for (const run of [sync, artifacts, job]) {
      expect(run.stdout).not.toMatch(TERMINAL_CONTROL);
      expect(run.stderr).not.toMatch(TERMINAL_CONTROL);
    }
    // The names with C0 controls are refused as unsafe paths (failed); the bidi one is fetched.
    expect(lines(artifacts.stdout)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^bidi\\u202etxt\.json\s+3 B\s+config\s+completed\s/),
        expect.stringMatching(/^esc\\x1b\[31mred\.json\s+3 B\s+config\s+failed\s/),
        expect.stringMatching(/^evil\\x01name\.json\s+3 B\s+config\s+failed\s/),
      ]),
    );
    expect(sync.stdout).toContain('done    bidi\\u202etxt.json (3 B');
  }, 60_000);

  it('prints each upstream retry of the job while sync --wait waits', async () => {
    const registered = await fetch(`${base}/v1/hub/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ vendor: 'Cli', name: 'Flaky', source_repo_id: FLAKY }),
    });
    expect(registered.status).toBe(201);
    // A second apart (the hub's Retry-After), so the retries after the first one happen while the CLI watches.
    hub.addFault({ filePath: 'config.json', status: 503, retryAfterSeconds: 1, times: 3 });
    const sync = await cli(['sync', FLAKY, '--wait']);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    const out = lines(sync.stdout);
    const retries = out.filter((l) => l.startsWith('upstream answered 503'));
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const line of retries) {
      expect(line).toMatch(
        /^upstream answered 503 \(Retry-After 1 s\), retry [1-3]\/5 in 1 s \(config\.json( from byte 0)?\)$/,
      );
    }
    expect(out.at(-1)).toMatch(
      /^Sync job completed in [\d.]+ s: cli\/flaky at [0-9a-f]{12}: 2 files \(2 created/,
    );
  }, 60_000);

  it('refuses a repo upstream does not have, unless --no-verify', async () => {
    const missing = await cli(['register', 'cli/not-upstream']);
    expect(missing).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `error: Repository cli/not-upstream was not found on ${hub.url} (RepoNotFound): Repository not found. Check source_repo_id. If it is private, set HF_TOKEN on this hub to a token that can read it. (UPSTREAM_REPO_NOT_FOUND)\n`,
    });
    const skipped = await cli(['register', 'cli/not-upstream', '--no-verify']);
    expect(skipped).toMatchObject({ code: 0, stderr: '' });
    expect(skipped.stdout).toMatch(/^Registered cli\/not-upstream as cli\/not-upstream \(revision main, id /);
  }, 60_000);
});
