import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The Node flags `npm start` passes (what runs between `node` and the script), for servers a bench starts. */
export function startFlags(): string[] {
  const file = path.resolve(import.meta.dirname, '..', 'package.json');
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('dist/src/cli.js'));
}
