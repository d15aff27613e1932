import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ImportRoots, isWithin } from '../../src/store/import-roots.js';

let base: string;
let root: string;

beforeAll(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'model-hub-roots-')));
  root = path.join(base, 'imports');
  await fs.mkdir(path.join(root, 'inside', 'deeper'), { recursive: true });
  await fs.mkdir(path.join(base, 'imports-evil'));
  await fs.mkdir(path.join(base, 'outside'));
  await fs.symlink(path.join(base, 'outside'), path.join(root, 'escape'));
  await fs.symlink(path.join(root, 'inside', 'deeper'), path.join(root, 'shortcut'));
  await fs.symlink(root, path.join(base, 'root-link'));
});
afterAll(async () => {
  if (base) await fs.rm(base, { recursive: true, force: true });
});

describe('IMPORT_ROOTS', () => {
  it('is a list of absolute directories separated by ":", none by default', () => {
    expect(loadConfig({}).importRoots).toEqual([]);
    expect(loadConfig({ IMPORT_ROOTS: '' }).importRoots).toEqual([]);
    expect(loadConfig({ IMPORT_ROOTS: '/data/imports/:/srv/hf/../cache' }).importRoots).toEqual([
      '/data/imports',
      '/srv/cache',
    ]);
  });

  it.each([
    ['a relative entry', '/data:imports', '"imports"'],
    ['an empty entry', '/data::/srv', 'an empty entry'],
    ['a trailing separator', '/data:', 'an empty entry'],
  ])('refuses %s, naming the variable', (_why, value, named) => {
    let error: unknown;
    try {
      loadConfig({ IMPORT_ROOTS: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^IMPORT_ROOTS must list absolute directories/);
    expect((error as Error).message).toContain(named);
  });
});

describe('ImportRoots.resolve', () => {
  it('accepts a root and what lies below it, resolved, also through a symlinked root or a symlink that stays inside', async () => {
    const roots = new ImportRoots([path.join(base, 'root-link')]);
    expect(await roots.resolve(root)).toBe(root);
    expect(await roots.resolve(path.join(root, 'inside'))).toBe(path.join(root, 'inside'));
    expect(await roots.resolve(path.join(base, 'root-link', 'inside'))).toBe(path.join(root, 'inside'));
    expect(await roots.resolve(path.join(root, 'shortcut'))).toBe(path.join(root, 'inside', 'deeper'));
  });

  it('refuses outside, escaping, sibling-prefix and missing paths with one identical error', async () => {
    const roots = new ImportRoots([root]);
    const refusals = await Promise.all(
      [
        '/etc',
        '/nonexistent',
        path.join(base, 'imports-evil'),
        path.join(root, 'escape'),
        path.join(root, 'inside', '..', '..', 'outside'),
        path.join(root, 'missing'),
        `${root}/inside\0`,
      ].map((p) =>
        roots.resolve(p).then(
          () => ({ p, accepted: true }),
          (error: Error & { code: string }) => ({
            name: error.name,
            code: error.code,
            message: error.message,
          }),
        ),
      ),
    );
    expect(new Set(refusals.map((r) => JSON.stringify(r)))).toEqual(
      new Set([
        JSON.stringify({
          name: 'Forbidden',
          code: 'IMPORT_PATH_REFUSED',
          message: `Import path refused: only an existing directory inside the import roots can be imported (IMPORT_ROOTS: ${root})`,
        }),
      ]),
    );
  });

  it('is disabled without roots, and refuses relative paths as invalid', async () => {
    await expect(new ImportRoots([]).resolve(root)).rejects.toMatchObject({
      name: 'Forbidden',
      code: 'IMPORT_DISABLED',
      message: expect.stringContaining('set IMPORT_ROOTS'),
    });
    await expect(new ImportRoots([root]).resolve('imports/inside')).rejects.toMatchObject({
      name: 'Invalid',
      code: 'INVALID_PATH',
    });
  });
});

describe('isWithin', () => {
  it('compares whole path segments', () => {
    expect(isWithin('/data/imports', '/data/imports')).toBe(true);
    expect(isWithin('/data/imports', '/data/imports/a/b')).toBe(true);
    expect(isWithin('/data/imports', '/data/imports-evil')).toBe(false);
    expect(isWithin('/data/imports', '/data')).toBe(false);
    expect(isWithin('/', '/etc')).toBe(true);
  });
});
