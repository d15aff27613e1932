import { describe, expect, it } from 'vitest';
import type { ContentHasher } from '../../src/store/content-hasher.js';
import { FrontierHasher } from '../../src/tasks/download/frontier-hasher.js';

/** A hasher whose thread has fallen behind until `catchUp()`; records what it was given, in order. */
function slowHasher() {
  const hashed: number[] = [];
  let catchUp: () => void = () => undefined;
  const behind = new Promise<void>((resolve) => {
    catchUp = resolve;
  });
  const hasher = {
    update: (chunk: Uint8Array) => hashed.push(chunk[0] as number),
    waitForRoom: () => behind,
  } as unknown as ContentHasher;
  return { hasher, hashed, catchUp: () => catchUp() };
}

const settled = async (promise: Promise<void>) => {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  return done;
};

describe('FrontierHasher', () => {
  it('hashes bytes in file order, holding those that arrive ahead of the frontier', () => {
    const { hasher, hashed } = slowHasher();
    const frontier = new FrontierHasher(hasher, 0, 1024);
    frontier.submit(4, new Uint8Array([2, 2, 2, 2]));
    frontier.submit(8, new Uint8Array([3, 3]));
    expect([hashed, frontier.position, frontier.bufferedBytes]).toEqual([[], 0, 6]);
    frontier.submit(0, new Uint8Array([1, 1, 1, 1]));
    expect([hashed, frontier.position, frontier.bufferedBytes]).toEqual([[1, 2, 3], 10, 0]);
    expect(() => frontier.submit(2, new Uint8Array([9]))).toThrow(/arrived twice/);
  });

  it('lets a connection ahead of the frontier go on while the hasher catches up', async () => {
    const { hasher, catchUp } = slowHasher();
    const frontier = new FrontierHasher(hasher, 0, 1024);
    const atFrontier = frontier.waitForRoom(0);
    expect(await settled(frontier.waitForRoom(4096))).toBe(true);
    expect(await settled(atFrontier)).toBe(false);
    catchUp();
    expect(await settled(atFrontier)).toBe(true);
  });

  it('holds a connection ahead of the frontier once the bytes waiting reach the bound', async () => {
    const { hasher, catchUp } = slowHasher();
    catchUp();
    const frontier = new FrontierHasher(hasher, 0, 8);
    frontier.submit(8, new Uint8Array(8));
    const ahead = frontier.waitForRoom(16);
    expect(await settled(ahead)).toBe(false);
    frontier.submit(0, new Uint8Array(8));
    expect(await settled(ahead)).toBe(true);
  });
});
