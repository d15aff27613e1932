// `npm start` (and `npm run worker`, `npm run migrate`) build first, but only when a source changed
// since the last build: an unchanged checkout starts in well under a second instead of recompiling.
// Plain JavaScript on purpose: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const inputs = ['src', 'ui', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

/** The newest modification time under `entry` (a file or a folder), 0 if it does not exist. */
function newest(entry) {
  let stat;
  try {
    stat = fs.statSync(entry);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const child of fs.readdirSync(entry)) latest = Math.max(latest, newest(path.join(entry, child)));
  return latest;
}

// The install step (`prepare`) runs this too: a fresh clone has no stamp and builds. npm also runs
// `prepare` again whenever it re-links the package into its own node_modules (`npx model-hub` after
// anything wrote under node_modules), and that must not cost a whole build when nothing changed.
const built = newest(stamp);
const changed = Math.max(...inputs.map((input) => newest(path.join(root, input))));
if (built > changed) process.exit(0);

const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
