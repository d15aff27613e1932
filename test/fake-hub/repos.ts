import { createHash } from 'node:crypto';
import { contentHashes, contentSize, type FileContent, gitBlobSha1 } from './content.js';

export interface FakeFileSpec {
  path: string;
  content: FileContent;
  /** Defaults to true when size >= 1 MiB or the extension is a weight format, else false. */
  lfs?: boolean;
}

export interface FakeRepoSpec {
  id: string;
  files: FakeFileSpec[];
  gated?: boolean;
  private?: boolean;
  /** Default branch, 'main' unless set. */
  branch?: string;
}

export interface StoredFile {
  path: string;
  content: FileContent;
  size: number;
  sha256: string;
  /** Git blob sha1 of the content itself. */
  gitSha1: string;
  lfs: boolean;
  /** LFS pointer text, for LFS files. */
  pointer: string | undefined;
  /** Git blob sha1 of what git stores: the pointer for LFS files, the content otherwise. */
  oid: string;
}

export type Entry = { type: 'file'; path: string; oid: string; file: StoredFile } | DirEntry;
interface DirEntry {
  type: 'directory';
  path: string;
  oid: string;
}

export interface Commit {
  sha: string;
  parent: string | undefined;
  title: string;
  date: string;
  files: Map<string, StoredFile>;
  /** Files and directories sorted by path. */
  entries: Entry[];
  dirs: Map<string, DirEntry>;
}

export interface StoredRepo {
  id: string;
  mongoId: string;
  private: boolean;
  gated: boolean;
  defaultBranch: string;
  createdAt: string;
  branches: Map<string, string>;
  commits: Map<string, Commit>;
  commitCount: number;
}

const WEIGHT_EXTENSIONS = [
  '.safetensors',
  '.bin',
  '.pth',
  '.pt',
  '.gguf',
  '.onnx',
  '.h5',
  '.msgpack',
  '.ckpt',
];
// Fixed epoch so commits (and their shas) are reproducible across runs.
const EPOCH_MS = Date.UTC(2025, 0, 1);

export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

export function defaultLfs(path: string, size: number): boolean {
  return size >= 1024 * 1024 || WEIGHT_EXTENSIONS.some((ext) => path.toLowerCase().endsWith(ext));
}

export async function storeFile(spec: FakeFileSpec): Promise<StoredFile> {
  const size = contentSize(spec.content);
  const { sha256, gitSha1 } = await contentHashes(spec.content);
  const lfs = spec.lfs ?? defaultLfs(spec.path, size);
  const pointer = lfs ? lfsPointer(sha256, size) : undefined;
  const oid = pointer === undefined ? gitSha1 : gitBlobSha1(pointer);
  return { path: spec.path, content: spec.content, size, sha256, gitSha1, lfs, pointer, oid };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Git tree object id, so directory oids look and behave like HF's (content-derived). */
function gitTreeSha1(children: Entry[]): string {
  const items = children.map((e) => {
    const name = e.path.slice(e.path.lastIndexOf('/') + 1);
    return {
      name,
      key: e.type === 'directory' ? `${name}/` : name,
      mode: e.type === 'directory' ? '40000' : '100644',
      oid: e.oid,
    };
  });
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const body = Buffer.concat(
    items.map((i) => Buffer.concat([Buffer.from(`${i.mode} ${i.name}\0`), Buffer.from(i.oid, 'hex')])),
  );
  return createHash('sha1').update(`tree ${body.length}\0`).update(body).digest('hex');
}

/** Directory entries (tree oids included) for a file set; hostile paths give odd but deterministic dirs. */
function buildEntries(files: Map<string, StoredFile>): {
  entries: Entry[];
  dirs: Map<string, DirEntry>;
  root: string;
} {
  const dirs = new Map<string, DirEntry>();
  for (const path of files.keys()) {
    for (let p = parentOf(path); p !== '' && !dirs.has(p); p = parentOf(p)) {
      dirs.set(p, { type: 'directory', path: p, oid: '' });
    }
  }
  const children = new Map<string, Entry[]>();
  const add = (e: Entry) => {
    const parent = parentOf(e.path);
    const list = children.get(parent);
    if (list) list.push(e);
    else children.set(parent, [e]);
  };
  for (const f of files.values()) add({ type: 'file', path: f.path, oid: f.oid, file: f });
  for (const d of dirs.values()) add(d);
  const byDepth = [...dirs.values()].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const d of byDepth) d.oid = gitTreeSha1(children.get(d.path) ?? []);
  const entries = [...children.values()]
    .flat()
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, dirs, root: gitTreeSha1(children.get('') ?? []) };
}

export function newRepo(spec: FakeRepoSpec): StoredRepo {
  const mongoId = createHash('sha1').update(`repo:${spec.id}`).digest('hex').slice(0, 24);
  return {
    id: spec.id,
    mongoId,
    private: spec.private ?? false,
    gated: spec.gated ?? false,
    defaultBranch: spec.branch ?? 'main',
    createdAt: new Date(EPOCH_MS).toISOString(),
    branches: new Map(),
    commits: new Map(),
    commitCount: 0,
  };
}

/** Makes a commit holding exactly `specs` on `branch` (created if needed); earlier commits stay resolvable. */
export async function commitFiles(repo: StoredRepo, specs: FakeFileSpec[], branch: string): Promise<Commit> {
  const files = new Map<string, StoredFile>();
  for (const f of await Promise.all(specs.map(storeFile))) files.set(f.path, f);
  const { entries, dirs, root } = buildEntries(files);
  repo.commitCount += 1;
  const parent = repo.branches.get(branch);
  const seconds = Math.floor(EPOCH_MS / 1000) + repo.commitCount * 60;
  const title =
    repo.commitCount === 1 ? 'initial commit' : `Update ${files.size} files (commit ${repo.commitCount})`;
  const who = `Fake Hub <fake-hub@example.invalid> ${seconds} +0000`;
  const body = `tree ${root}\n${parent ? `parent ${parent}\n` : ''}author ${who}\ncommitter ${who}\n\n${title}\n${repo.id}\n`;
  const sha = createHash('sha1')
    .update(`commit ${Buffer.byteLength(body)}\0${body}`)
    .digest('hex');
  const commit: Commit = {
    sha,
    parent,
    title,
    date: new Date(seconds * 1000).toISOString(),
    files,
    entries,
    dirs,
  };
  repo.commits.set(sha, commit);
  repo.branches.set(branch, sha);
  return commit;
}

export function resolveRevision(repo: StoredRepo, rev: string): Commit | undefined {
  const name = rev === 'HEAD' ? repo.defaultBranch : rev.startsWith('refs/heads/') ? rev.slice(11) : rev;
  const sha = repo.branches.get(name) ?? (/^[0-9a-f]{40}$/.exec(rev) ? rev : undefined);
  return sha === undefined ? undefined : repo.commits.get(sha);
}

function oidAt(commit: Commit, path: string): string | undefined {
  return commit.files.get(path)?.oid ?? commit.dirs.get(path)?.oid;
}

/** The oldest commit, walking back from `commit`, since which `path` has had its current oid. */
export function lastChange(repo: StoredRepo, commit: Commit, path: string): Commit {
  const oid = oidAt(commit, path);
  let last = commit;
  for (let c = commit.parent ? repo.commits.get(commit.parent) : undefined; c; ) {
    if (oidAt(c, path) !== oid) break;
    last = c;
    c = c.parent ? repo.commits.get(c.parent) : undefined;
  }
  return last;
}

/** Tree/paths-info JSON for one entry, in HF's shape. */
export function entryJson(
  repo: StoredRepo,
  commit: Commit,
  e: Entry,
  expand: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> =
    e.type === 'directory'
      ? { type: 'directory', oid: e.oid, size: 0, path: e.path }
      : { type: 'file', oid: e.oid, size: e.file.size, path: e.path };
  if (e.type === 'file' && e.file.lfs) {
    out.lfs = { oid: e.file.sha256, size: e.file.size, pointerSize: Buffer.byteLength(e.file.pointer ?? '') };
  }
  if (expand) {
    const c = lastChange(repo, commit, e.path);
    out.lastCommit = { id: c.sha, title: c.title, date: c.date };
    if (e.type === 'file') out.securityFileStatus = { status: 'safe' };
  }
  return out;
}
