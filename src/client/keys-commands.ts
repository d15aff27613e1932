import { type Command, Option } from 'commander';
import type { ModelHubClient } from './api-client.js';
import { formatTimestamp, renderTable } from './format.js';
import type { ApiKeyWire, CreatedApiKeyWire, KeyScope } from './wire.js';

/**
 * Where `keys` commands go without an API key: straight to the hub's database (the same environment
 * as `serve`, like `migrate`), so an operator on the hub's machine can create the first admin key
 * before anyone can call the API, and recover if every admin key is lost.
 */
export interface KeysBackend {
  /** A line naming where the keys live, for stderr. */
  describe(): string;
  create(scope: KeyScope, name: string | undefined): Promise<CreatedApiKeyWire>;
  list(): Promise<ApiKeyWire[]>;
  revoke(idOrPrefix: string): Promise<ApiKeyWire>;
}

export interface KeysCommandDeps {
  out(line: string): void;
  err(line: string): void;
  /** The API client when the user gave a key (`--key`, MODEL_HUB_KEY); undefined otherwise. */
  apiClient(command: Command): ModelHubClient | undefined;
  /** Loaded only when needed: it opens the database. */
  database(): Promise<KeysBackend>;
  run<A extends unknown[]>(action: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
}

function viaApi(client: ModelHubClient): KeysBackend {
  return {
    describe: () => `keys of the hub at ${client.displayUrl}`,
    create: (scope, name) => client.createKey({ scope, ...(name === undefined ? {} : { name }) }),
    list: () => client.listKeys(),
    revoke: (idOrPrefix) => client.revokeKey(idOrPrefix),
  };
}

export function keysTable(keys: readonly ApiKeyWire[]): string {
  if (keys.length === 0)
    return 'No API keys: the API is open on loopback only. Create one with: model-hub keys create --scope admin';
  return renderTable(
    ['ID', 'PREFIX', 'SCOPE', 'NAME', 'CREATED', 'LAST USED'],
    keys.map((k) => [
      k.id,
      k.prefix,
      k.scope,
      k.name ?? '',
      formatTimestamp(k.created_at),
      formatTimestamp(k.last_used_at),
    ]),
  );
}

export function registerKeysCommands(program: Command, deps: KeysCommandDeps): void {
  const keys = program
    .command('keys')
    .description(
      'Manage API keys. With --key or MODEL_HUB_KEY (an admin key) through the API; without, directly in the hub database (run on the hub machine with the same environment as serve)',
    );
  const backend = async (command: Command): Promise<KeysBackend> => {
    const client = deps.apiClient(command);
    return client ? viaApi(client) : deps.database();
  };

  keys
    .command('create')
    .description('Create a key and print it (shown only this once; the hub keeps only a hash)')
    .addOption(
      new Option('--scope <scope>', 'what the key may do')
        .choices(['read', 'write', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--name <name>', 'a label to recognise the key by, e.g. who or what uses it')
    .option('--json', 'print {id, key, scope, name, created_at} on one line')
    .action(
      deps.run(async (opts: { scope: KeyScope; name?: string; json?: boolean }, command: Command) => {
        const target = await backend(command);
        const created = await target.create(opts.scope, opts.name);
        if (opts.json) {
          const { id, key, scope, name, created_at } = created;
          deps.out(JSON.stringify({ id, key, scope, name, created_at }));
          return 0;
        }
        deps.out(created.key);
        deps.err(
          `Created ${created.scope} key ${created.prefix} (id ${created.id}${created.name ? `, name ${created.name}` : ''}) in the ${target.describe()}.`,
        );
        deps.err(
          'This is the only time the key is shown: store it now. Use it as MODEL_HUB_KEY, --key, or "Authorization: Bearer <key>".',
        );
        return 0;
      }),
    );

  keys
    .command('list')
    .description('List keys: id, prefix, scope, name, when created and last used (never the keys themselves)')
    .option('--json', 'print the keys as one JSON array')
    .action(
      deps.run(async (opts: { json?: boolean }, command: Command) => {
        const list = await (await backend(command)).list();
        deps.out(opts.json ? JSON.stringify(list) : keysTable(list));
        return 0;
      }),
    );

  keys
    .command('revoke')
    .description('Revoke a key by its id or prefix; it stops working at once')
    .argument('<key>', 'the id, or the prefix `keys list` shows (mh_…)')
    .option('--json', 'print the revoked key as JSON')
    .action(
      deps.run(async (idOrPrefix: string, opts: { json?: boolean }, command: Command) => {
        const revoked = await (await backend(command)).revoke(idOrPrefix);
        deps.out(
          opts.json
            ? JSON.stringify(revoked)
            : `Revoked ${revoked.scope} key ${revoked.prefix} (id ${revoked.id})`,
        );
        return 0;
      }),
    );
}
