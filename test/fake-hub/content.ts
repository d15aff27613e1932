import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/** Generated content: `size` bytes derived from `seed`, never materialized as a whole. */
export interface GeneratedContent {
  size: number;
  seed: string;
}

export type FileContent = Buffer | string | GeneratedContent;

export interface ContentHashes {
  sha256: string;
  gitSha1: string;
}

export const BLOCK_SIZE = 1024 * 1024;

export function isGenerated(c: FileContent): c is GeneratedContent {
  return typeof c === 'object' && !Buffer.isBuffer(c);
}

export function contentSize(c: FileContent): number {
  if (typeof c === 'string') return Buffer.byteLength(c);
  if (Buffer.isBuffer(c)) return c.length;
  return c.size;
}

/** `sha1("blob <size>\0" + bytes)`, the git object id of a blob. */
export function gitBlobSha1(buf: Buffer | string): string {
  const bytes = typeof buf === 'string' ? Buffer.from(buf) : buf;
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

// Base blocks are a few ms of sha256 each; keep the recent ones so repeated streams stay cheap.
const baseBlocks = new Map<string, Buffer>();
const MAX_BASE_BLOCKS = 32;

function baseBlock(seed: string): Buffer {
  const cached = baseBlocks.get(seed);
  if (cached) return cached;
  const block = Buffer.allocUnsafe(BLOCK_SIZE);
  const prefix = `fake-hub:${seed}:`;
  for (let off = 0, i = 0; off < BLOCK_SIZE; off += 32, i++) {
    createHash('sha256').update(prefix).update(String(i)).digest().copy(block, off);
  }
  if (baseBlocks.size >= MAX_BASE_BLOCKS) {
    const oldest = baseBlocks.keys().next().value;
    if (oldest !== undefined) baseBlocks.delete(oldest);
  }
  baseBlocks.set(seed, block);
  return block;
}

/** Bytes of a generated file are its seed's base block with the first 8 bytes of each block XOR-ed by its index. */
const TAG_BYTES = 8;

/**
 * Block `index` of a generated file, in two pieces: its own 8-byte tag and the rest of the shared
 * base block (never copied, never to be modified), so serving a large file allocates next to nothing.
 */
function generatedBlock(seed: string, index: number, from: number, to: number): Buffer[] {
  const base = baseBlock(seed);
  const pieces: Buffer[] = [];
  if (from < TAG_BYTES) {
    const tag = Buffer.allocUnsafe(TAG_BYTES);
    tag.writeBigUInt64LE(BigInt(index) ^ base.readBigUInt64LE(0), 0);
    pieces.push(tag.subarray(from, Math.min(TAG_BYTES, to)));
  }
  if (to > TAG_BYTES) pieces.push(base.subarray(Math.max(TAG_BYTES, from), to));
  return pieces;
}

function* generatedChunks(c: GeneratedContent, start: number, endInclusive: number): Generator<Buffer> {
  let pos = start;
  while (pos <= endInclusive) {
    const index = Math.floor(pos / BLOCK_SIZE);
    const blockStart = index * BLOCK_SIZE;
    const to = Math.min(BLOCK_SIZE, endInclusive - blockStart + 1);
    yield* generatedBlock(c.seed, index, pos - blockStart, to);
    pos = blockStart + to;
  }
}

function* literalChunks(buf: Buffer, start: number, endInclusive: number): Generator<Buffer> {
  for (let pos = start; pos <= endInclusive; pos += BLOCK_SIZE) {
    yield buf.subarray(pos, Math.min(pos + BLOCK_SIZE, endInclusive + 1));
  }
}

/** The bytes `[start, endInclusive]` of `c`, in chunks of at most 1 MiB. */
export function contentChunks(
  c: FileContent,
  start = 0,
  endInclusive = contentSize(c) - 1,
): Iterable<Buffer> {
  const size = contentSize(c);
  if (start < 0 || endInclusive >= size || start > endInclusive + 1) {
    throw new RangeError(`range ${start}-${endInclusive} outside content of ${size} bytes`);
  }
  if (isGenerated(c)) return generatedChunks(c, start, endInclusive);
  return literalChunks(typeof c === 'string' ? Buffer.from(c) : c, start, endInclusive);
}

export function contentStream(c: FileContent, start = 0, endInclusive = contentSize(c) - 1): Readable {
  return Readable.from(contentChunks(c, start, endInclusive), { objectMode: false });
}

/** Whole content as one Buffer; meant for small files in tests. */
export function contentBytes(c: FileContent): Buffer {
  if (typeof c === 'string') return Buffer.from(c);
  if (Buffer.isBuffer(c)) return c;
  return Buffer.concat([...contentChunks(c)]);
}

const hashesByObject = new WeakMap<object, Promise<ContentHashes>>();
const hashesByKey = new Map<string, Promise<ContentHashes>>();

async function computeHashes(c: FileContent): Promise<ContentHashes> {
  const size = contentSize(c);
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1').update(`blob ${size}\0`);
  let n = 0;
  for (const chunk of contentChunks(c)) {
    sha256.update(chunk);
    sha1.update(chunk);
    // Yield now and then so hashing a big file does not starve the servers' event loop.
    if (++n % 64 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { sha256: sha256.digest('hex'), gitSha1: sha1.digest('hex') };
}

/** sha256 and git blob sha1 of `c`, cached per Buffer/object (and per seed+size for generated content). */
export function contentHashes(c: FileContent): Promise<ContentHashes> {
  if (typeof c === 'string') {
    const key = `s:${c}`;
    if (c.length > 4096) return computeHashes(c);
    return memo(hashesByKey, key, c);
  }
  const byObject = hashesByObject.get(c);
  if (byObject) return byObject;
  const p = isGenerated(c) ? memo(hashesByKey, `g:${c.size}:${c.seed}`, c) : computeHashes(c);
  hashesByObject.set(c, p);
  return p;
}

function memo(map: Map<string, Promise<ContentHashes>>, key: string, c: FileContent): Promise<ContentHashes> {
  let p = map.get(key);
  if (!p) {
    p = computeHashes(c);
    map.set(key, p);
  }
  return p;
}
