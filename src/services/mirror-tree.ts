import { createHash } from 'node:crypto';
import type { MirrorFile } from './mirror.service.js';

/**
 * A repo's files as the git tree the hub's `/tree` and `/paths-info` describe: every file plus
 * every directory above one, sorted by path. Directory ids are git tree ids computed from the
 * children (files as mode 100644), so they are content-derived and stable like upstream's.
 */
export type TreeEntry =
  | { type: 'file'; path: string; file: MirrorFile }
  | { type: 'directory'; path: string; oid: string };

export interface RepoTree {
  /** Files and directories, sorted by path. */
  entries: TreeEntry[];
  byPath: Map<string, TreeEntry>;
}

const UNKNOWN_OID = '0'.repeat(40);

export function buildTree(files: readonly MirrorFile[]): RepoTree {
  const children = new Map<string, TreeEntry[]>();
  const addChild = (entry: TreeEntry) => {
    const parent = parentOf(entry.path);
    const list = children.get(parent);
    if (list) list.push(entry);
    else children.set(parent, [entry]);
  };
  const dirs = new Set<string>();
  for (const file of files) {
    addChild({ type: 'file', path: file.path, file });
    for (let dir = parentOf(file.path); dir !== '' && !dirs.has(dir); dir = parentOf(dir)) dirs.add(dir);
  }
  // Deepest first, so a directory's subdirectories have their ids when it is hashed.
  const deepestFirst = [...dirs].sort((a, b) => depth(b) - depth(a));
  const oids = new Map<string, string>();
  for (const dir of deepestFirst) {
    const oid = gitTreeOid(children.get(dir) ?? []);
    oids.set(dir, oid);
    addChild({ type: 'directory', path: dir, oid });
  }
  const entries = [...children.values()]
    .flat()
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, byPath: new Map(entries.map((e) => [e.path, e])) };
}

/**
 * The entries under `directory` ('' for the root): all of them (`recursive`), or its direct
 * children, directories first, as the hub lists them.
 */
export function listDirectory(tree: RepoTree, directory: string, recursive: boolean): TreeEntry[] {
  if (recursive) {
    return directory === '' ? tree.entries : tree.entries.filter((e) => e.path.startsWith(`${directory}/`));
  }
  const direct = tree.entries.filter((e) => parentOf(e.path) === directory);
  return [...direct.filter((e) => e.type === 'directory'), ...direct.filter((e) => e.type === 'file')];
}

export function entryOid(entry: TreeEntry): string | null {
  return entry.type === 'directory' ? entry.oid : entry.file.gitOid;
}

function gitTreeOid(items: readonly TreeEntry[]): string {
  const named = items.map((e) => {
    const name = e.path.slice(e.path.lastIndexOf('/') + 1);
    const isDir = e.type === 'directory';
    // git orders a tree by the bytes of each name, a directory's name taken with a trailing slash.
    return { name, key: isDir ? `${name}/` : name, mode: isDir ? '40000' : '100644', oid: entryOid(e) };
  });
  named.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const body = Buffer.concat(
    named.map((i) =>
      Buffer.concat([Buffer.from(`${i.mode} ${i.name}\0`), Buffer.from(i.oid ?? UNKNOWN_OID, 'hex')]),
    ),
  );
  return createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex');
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

function depth(p: string): number {
  return p.split('/').length;
}
