/** Standalone fake hub: `npx tsx test/fake-hub/cli.ts [--port 9000] [--big-size-mib N] [--many-files N] [--throttle-bytes-per-second N]`. */
import { parseArgs } from 'node:util';
import { addDemoRepos, addManyFilesRepo } from './demo.js';
import { startFakeHub } from './fake-hub.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'big-size-mib': { type: 'string', default: '64' },
    'many-files': { type: 'string', default: '0' },
    'throttle-bytes-per-second': { type: 'string', default: '0' },
  },
});
const port = Number(values.port);
const bigMiB = Number(values['big-size-mib']);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`--port: not a port: ${values.port}`);
if (!(bigMiB >= 0)) throw new Error(`--big-size-mib: not a size: ${values['big-size-mib']}`);

const throttle = Number(values['throttle-bytes-per-second']);
const hub = await startFakeHub({ port, ...(throttle > 0 ? { throttleBytesPerSecond: throttle } : {}) });
await addDemoRepos(hub, { bigSizeBytes: Math.round(bigMiB * 1024 * 1024) });
const manyFiles = Number(values['many-files']);
if (manyFiles > 0) await addManyFilesRepo(hub, manyFiles);
process.stdout.write(`fake hub listening on ${hub.url}\n`);
process.stderr.write(`cdn on ${hub.cdnUrl}; token ${hub.token}\n`);

const stop = () => {
  hub.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
