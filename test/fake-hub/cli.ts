/** The fake hub as a program (`npm run fake-hub -- --help`): see README.md beside this file. */
import { parseArgs } from 'node:util';
import { addDemoRepos, addManyFilesRepo, addSmallFilesRepo } from './demo.js';
import { startFakeHub } from './fake-hub.js';

const USAGE = `Usage: npm run fake-hub -- [options]

A fake Hugging Face Hub on this machine, with demo repos (Wan-AI/Wan2.1-T2V-1.3B, demo/copy-of-wan),
for trying Model Hub without reaching huggingface.co. Point Model Hub at it with HF_ENDPOINT=<url>.

Options:
  --port N                        hub port (default 9000; 0 picks a free one)
  --cdn-port N                    port of the CDN that serves LFS files (default: port + 1; 0 picks a free one)
  --big-size-mib N                size of the demo's big weight file in MiB (default 64)
  --many-files N                  also serve bench/many-files: N tiny LFS files (default 0: none)
  --small-files N                 also serve bench/small-files: N plain-git files of 200-1,200 bytes (default 0)
  --throttle-bytes-per-second N   CDN rate per response (default 0: unlimited)
  -h, --help                      show this help

While it runs, GET <url>/_control shows its state; PUT <url>/_control/throttle and
POST|DELETE <url>/_control/faults change it (see test/fake-hub/README.md).`;

function fail(message: string): never {
  process.stderr.write(`fake-hub: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function wholeNumber(name: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > max)
    fail(`--${name} expects a whole number from 0 to ${max}, got "${value}"`);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '9000' },
      'cdn-port': { type: 'string' },
      'big-size-mib': { type: 'string', default: '64' },
      'many-files': { type: 'string', default: '0' },
      'small-files': { type: 'string', default: '0' },
      'throttle-bytes-per-second': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  fail((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const port = wholeNumber('port', values.port as string, 65535);
const cdnPort =
  values['cdn-port'] === undefined
    ? port === 0
      ? 0
      : port + 1
    : wholeNumber('cdn-port', values['cdn-port'] as string, 65535);
const bigMiB = wholeNumber('big-size-mib', values['big-size-mib'] as string);
const manyFiles = wholeNumber('many-files', values['many-files'] as string);
const smallFiles = wholeNumber('small-files', values['small-files'] as string);
const throttle = wholeNumber('throttle-bytes-per-second', values['throttle-bytes-per-second'] as string);

const hub = await startFakeHub({
  port,
  cdnPort,
  ...(throttle > 0 ? { throttleBytesPerSecond: throttle } : {}),
}).catch((error: NodeJS.ErrnoException) => {
  if (error.code === 'EADDRINUSE')
    fail(`a port is in use (${error.message}): choose others with --port/--cdn-port`);
  throw error;
});
await addDemoRepos(hub, { bigSizeBytes: Math.round(bigMiB * 1024 * 1024) });
if (manyFiles > 0) await addManyFilesRepo(hub, manyFiles);
if (smallFiles > 0) await addSmallFilesRepo(hub, smallFiles);
process.stdout.write(`fake hub listening on ${hub.url}\n`);
process.stderr.write(`cdn on ${hub.cdnUrl}; token ${hub.token}; state at ${hub.url}/_control\n`);

const stop = () => {
  hub.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
