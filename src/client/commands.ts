import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { HubApiError, HubUnreachableError, ModelHubClient } from './api-client.js';
import type { TerminalStream } from './bar-display.js';
import { jsonLine, terminalSafe } from './format.js';
import { type KeysBackend, registerKeysCommands } from './keys-commands.js';
import { artifactsTable, jobDetails, jobsTable, modelsTable } from './listings.js';
import { createLineDisplay, createQuietDisplay, type ProgressDisplay } from './progress-display.js';
import { parseRepoArgument } from './repo-argument.js';
import { watchJob } from './watch-job.js';
import type { RegisterRequest } from './wire.js';

/**
 * The client commands of `model-hub`: each one calls the hub's HTTP API (`--url`, else MODEL_HUB_URL,
 * else the local default) and prints a human view, or with `--json` the API's JSON on one line
 * (NDJSON of events while watching). API errors print `error: <message> (<code>)` and exit 1.
 */
export const DEFAULT_HUB_URL = 'http://127.0.0.1:8000';

export interface ClientIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: TerminalStream;
  stderr: NodeJS.WritableStream;
  setExitCode(code: number): void;
  /** The hub database, for `keys` commands run without an API key (loaded on demand by the CLI). */
  keysDatabase?: () => Promise<KeysBackend>;
}

interface JsonOption {
  json?: boolean;
}

export function registerClientCommands(program: Command, io: ClientIo): void {
  const out = (line: string) => void io.stdout.write(`${line}\n`);
  const err = (line: string) => void io.stderr.write(`${line}\n`);

  program.option(
    '--url <url>',
    `the hub the client commands talk to (default: $MODEL_HUB_URL, else ${DEFAULT_HUB_URL})`,
  );
  program.option('--key <key>', 'API key sent to the hub (default: $MODEL_HUB_KEY)');

  const apiKeyFor = (command: Command): string | undefined =>
    command.optsWithGlobals<{ key?: string }>().key ?? (io.env.MODEL_HUB_KEY || undefined);

  const clientFor = (command: Command): ModelHubClient => {
    const fromOption = command.optsWithGlobals<{ url?: string }>().url;
    const raw = fromOption ?? io.env.MODEL_HUB_URL ?? DEFAULT_HUB_URL;
    const url = URL.canParse(raw) ? new URL(raw) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      const source = fromOption === undefined ? 'MODEL_HUB_URL' : '--url';
      command.error(`error: ${source} must be an http(s) URL such as ${DEFAULT_HUB_URL}`, { exitCode: 1 });
    }
    const apiKey = apiKeyFor(command);
    return new ModelHubClient(url, apiKey ? { apiKey } : {});
  };

  /** Runs an action; hub errors become one stderr line and exit code 1, anything else propagates. */
  const run =
    <A extends unknown[]>(action: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      try {
        io.setExitCode(await action(...args));
      } catch (error) {
        if (error instanceof HubApiError) err(terminalSafe(`error: ${error.message} (${error.code})`));
        else if (error instanceof HubUnreachableError) err(terminalSafe(`error: ${error.message}`));
        else throw error;
        io.setExitCode(1);
      }
    };

  const watch = async (client: ModelHubClient, jobId: string, json: boolean) => {
    // The bars' library is loaded only for a terminal: the server never loads it.
    const display: ProgressDisplay = json
      ? createQuietDisplay(err)
      : io.stdout.isTTY
        ? (await import('./bar-display.js')).createBarDisplay(io.stdout)
        : createLineDisplay({ out, err });
    return watchJob({ client, jobId, display, json, out, err });
  };

  const printJson = (value: unknown) => out(jsonLine(value));
  const jsonOption = (withWait = false) =>
    new Option(
      '--json',
      withWait
        ? 'print the API response as one JSON line; with --wait, then every event as one more (NDJSON)'
        : 'print the API response as one JSON line',
    );

  program
    .command('register')
    .description('Register a Hugging Face repo with the hub')
    .argument('<repo_id>', 'upstream repo, owner/name (or its huggingface.co URL)', parseRepoArgument)
    .option('--vendor <vendor>', 'vendor shown by the hub (default: the owner part of repo_id)')
    .option('--name <name>', 'name shown by the hub (default: the name part of repo_id)')
    .option('--revision <revision>', 'branch, tag or commit to mirror (default: main)')
    .option('--sync', 'queue a sync right away')
    .option(
      '--no-verify',
      'register without checking upstream that the repo exists (air-gapped hub before an import, or upstream down)',
    )
    .addOption(jsonOption())
    .action(
      run(
        async (
          repoId: string,
          opts: JsonOption & {
            vendor?: string;
            name?: string;
            revision?: string;
            sync?: boolean;
            verify: boolean;
          },
          command: Command,
        ) => {
          const [owner = '', name = ''] = repoId.split('/');
          const request: RegisterRequest = {
            vendor: opts.vendor ?? owner,
            name: opts.name ?? name,
            source_repo_id: repoId,
            ...(opts.revision ? { revision: opts.revision } : {}),
            auto_sync: opts.sync === true,
            ...(opts.verify ? {} : { verify: false }),
          };
          const model = await clientFor(command).register(request);
          if (opts.json) {
            printJson(model);
            return 0;
          }
          out(
            terminalSafe(
              `Registered ${model.repo_id} as ${model.vendor}/${model.name} (revision ${model.revision}, id ${model.id})`,
            ),
          );
          if (model.sync_job_id) out(`Sync job queued: ${model.sync_job_id}`);
          return 0;
        },
      ),
    );

  program
    .command('sync')
    .description('Queue a sync of a registered repo (list its files, fetch its metadata)')
    .argument('<repo_id>', 'registered repo, owner/name (or its huggingface.co URL)', parseRepoArgument)
    .option('--wait', 'follow the job until it ends; exit 1 if it fails')
    .addOption(jsonOption(true))
    .action(
      run(async (repoId: string, opts: JsonOption & { wait?: boolean }, command: Command) => {
        const client = clientFor(command);
        const accepted = await client.requestSync(repoId);
        if (opts.json) printJson(accepted);
        else out(terminalSafe(`${accepted.message}: ${accepted.job_id}`));
        return opts.wait ? watch(client, accepted.job_id, opts.json === true) : 0;
      }),
    );

  program
    .command('download')
    .description('Queue a download of a synced repo, or of the files matching --include/--exclude')
    .argument('<repo_id>', 'registered repo, owner/name (or its huggingface.co URL)', parseRepoArgument)
    .option(
      '--include <pattern>',
      'only paths matching this pattern (repeat for more); * also matches /, "dir/" means all below dir, as in hf download',
      collectPatterns,
    )
    .option('--exclude <pattern>', 'leave out paths matching this pattern (repeat for more)', collectPatterns)
    .option('--wait', 'follow the job with progress bars until it ends; exit 1 if it fails')
    .addOption(jsonOption(true))
    .action(
      run(
        async (
          repoId: string,
          opts: JsonOption & { include?: string[]; exclude?: string[]; wait?: boolean },
          command: Command,
        ) => {
          const client = clientFor(command);
          const accepted = await client.requestDownload({
            repo_id: repoId,
            ...(opts.include ? { include: opts.include } : {}),
            ...(opts.exclude ? { exclude: opts.exclude } : {}),
          });
          if (opts.json) printJson(accepted);
          else out(terminalSafe(`${accepted.message}: ${accepted.job_id}`));
          return opts.wait ? watch(client, accepted.job_id, opts.json === true) : 0;
        },
      ),
    );

  program
    .command('import')
    .description(
      "Import files already on the hub's machine: a Hugging Face cache, or a plain folder of one repo's files (--repo)",
    )
    .argument(
      '<path>',
      "a directory on the hub's machine (made absolute here, so run this where the hub runs)",
    )
    .option('--repo <repo_id>', 'the registered repo the files belong to (required for a plain folder)')
    .option('--wait', 'follow the job until it ends; exit 1 if it fails')
    .addOption(jsonOption(true))
    .action(
      run(async (dir: string, opts: JsonOption & { repo?: string; wait?: boolean }, command: Command) => {
        const client = clientFor(command);
        const accepted = await client.requestImport({
          path: path.resolve(dir),
          ...(opts.repo ? { repo_id: opts.repo } : {}),
        });
        if (opts.json) printJson(accepted);
        else out(terminalSafe(`${accepted.message}: ${accepted.job_id}`));
        return opts.wait ? watch(client, accepted.job_id, opts.json === true) : 0;
      }),
    );

  program
    .command('models')
    .description('List registered repos')
    .addOption(jsonOption())
    .action(
      run(async (opts: JsonOption, command: Command) => {
        const models = await clientFor(command).listModels();
        if (opts.json) printJson({ items: models });
        else out(modelsTable(models));
        return 0;
      }),
    );

  program
    .command('artifacts')
    .description("List a repo's files with their size, type, download status and sha256")
    .argument('<repo_id>', 'registered repo, owner/name (or its huggingface.co URL)', parseRepoArgument)
    .addOption(jsonOption())
    .action(
      run(async (repoId: string, opts: JsonOption, command: Command) => {
        const client = clientFor(command);
        const model = await client.findModelByRepoId(repoId);
        const artifacts = await client.listArtifacts(model.id);
        if (opts.json) printJson({ items: artifacts });
        else out(artifactsTable(repoId, artifacts));
        return 0;
      }),
    );

  program
    .command('jobs')
    .description('List jobs, newest first')
    .addOption(
      new Option('--status <status>', 'only jobs in this status').choices([
        'pending',
        'running',
        'completed',
        'failed',
        'cancelled',
      ]),
    )
    .addOption(
      new Option('--type <type>', 'only jobs of this type').choices([
        'sync',
        'download',
        'scan',
        'gc',
        'import',
      ]),
    )
    .option('--limit <n>', 'at most this many jobs (1-200, default 50)', parseLimit)
    .addOption(jsonOption())
    .action(
      run(async (opts: JsonOption & { status?: string; type?: string; limit?: number }, command: Command) => {
        const page = await clientFor(command).listJobs({
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.type ? { type: opts.type } : {}),
          ...(opts.limit ? { limit: opts.limit } : {}),
        });
        if (opts.json) printJson(page);
        else out(jobsTable(page));
        return 0;
      }),
    );

  program
    .command('job')
    .description('Show one job: status, progress, result and its timestamped logs')
    .argument('<job_id>', 'job id (a UUID, as sync/download print it)', parseJobId)
    .addOption(jsonOption())
    .action(
      run(async (jobId: string, opts: JsonOption, command: Command) => {
        const job = await clientFor(command).getJob(jobId);
        if (opts.json) printJson(job);
        else out(jobDetails(job));
        return 0;
      }),
    );

  program
    .command('watch')
    .description(
      'Follow a job live until it ends (bars on a terminal, plain lines otherwise); exit 1 if it fails',
    )
    .argument('<job_id>', 'job id (a UUID, as sync/download print it)', parseJobId)
    .addOption(new Option('--json', 'print every event as one JSON line (NDJSON)'))
    .action(
      run(async (jobId: string, opts: JsonOption, command: Command) =>
        watch(clientFor(command), jobId, opts.json === true),
      ),
    );

  program
    .command('cancel')
    .description(
      'Cancel a pending or running job (a running download stops, its partial files kept for a retry)',
    )
    .argument('<job_id>', 'job id (a UUID, as sync/download print it)', parseJobId)
    .addOption(jsonOption())
    .action(
      run(async (jobId: string, opts: JsonOption, command: Command) => {
        const job = await clientFor(command).cancelJob(jobId);
        if (opts.json) printJson(job);
        else if (job.status === 'cancelled') out(`Cancelled job ${job.id}`);
        else
          out(
            `Cancel of job ${job.id} requested; it is still ${job.status} until its worker stops it (follow it with: model-hub watch ${job.id})`,
          );
        return 0;
      }),
    );

  program
    .command('retry')
    .description(
      'Queue a new job for what a failed or cancelled job did not complete (a download resumes its partial files)',
    )
    .argument('<job_id>', 'job id (a UUID, as sync/download print it)', parseJobId)
    .option('--wait', 'follow the new job until it ends; exit 1 if it fails')
    .addOption(jsonOption(true))
    .action(
      run(async (jobId: string, opts: JsonOption & { wait?: boolean }, command: Command) => {
        const client = clientFor(command);
        const accepted = await client.retryJob(jobId);
        if (opts.json) printJson(accepted);
        else out(terminalSafe(`${accepted.message}: ${accepted.job_id}`));
        return opts.wait ? watch(client, accepted.job_id, opts.json === true) : 0;
      }),
    );

  registerKeysCommands(program, {
    out,
    err,
    apiClient: (command) => (apiKeyFor(command) ? clientFor(command) : undefined),
    database: async () => {
      if (!io.keysDatabase) throw new Error('keys: this build has no database access; pass --key');
      return io.keysDatabase();
    },
    run,
  });
}

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A job id is a UUID: anything else is a usage mistake, told before the hub is asked. */
export function parseJobId(value: string): string {
  if (!JOB_ID.test(value)) {
    throw new InvalidArgumentError('expected a job id (a UUID such as 737f0b42-d9dd-439e-b092-1dc0968f387c)');
  }
  return value.toLowerCase();
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw new InvalidArgumentError('expected a whole number from 1 to 200');
  }
  return limit;
}

/** `--include`/`--exclude` take one pattern each and may repeat, so a repo id after them stays an argument. */
function collectPatterns(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
