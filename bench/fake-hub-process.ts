import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** Starts the fake hub CLI in its own process (as upstream would be) on free ports and returns its URL. */
export async function startFakeHubProcess(args: string[]): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fake-hub/cli.ts', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const url = /listening on (\S+)/.exec(line.toString())?.[1];
  if (!url) throw new Error(`fake hub did not start: ${line}`);
  return { url, stop: () => child.kill('SIGTERM') };
}
