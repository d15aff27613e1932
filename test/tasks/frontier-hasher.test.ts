import { describe, expect, it } from 'vitest';
import type { FileHasher } from '../../src/store/file-hasher.js';
import { FrontierHasher } from '../../src/tasks/download/frontier-hasher.js';

/** A hasher that records how far it was asked to hash, in order. */
function recordingHasher() {
  const asked: number[] = [];
  const hasher = { hashTo: (end: number) => asked.push(end) } as unknown as FileHasher;
  return { hasher, asked };
}

describe('FrontierHasher', () => {
  it('asks the hash for the contiguous written prefix, however the writes complete', () => {
    const { hasher, asked } = recordingHasher();
    const frontier = new FrontierHasher(hasher, 0);
    frontier.written(4, 4);
    frontier.written(12, 2);
    expect([asked, frontier.position, frontier.writtenBytes]).toEqual([[], 0, 6]);
    frontier.written(0, 4);
    expect([asked, frontier.position, frontier.writtenBytes]).toEqual([[8], 8, 10]);
    frontier.written(8, 4);
    expect([asked, frontier.position, frontier.writtenBytes]).toEqual([[8, 14], 14, 14]);
  });

  it('starts at a resume point and refuses a range written twice', () => {
    const { hasher, asked } = recordingHasher();
    const frontier = new FrontierHasher(hasher, 100);
    frontier.written(110, 5);
    expect(() => frontier.written(110, 5)).toThrow(/written twice/);
    expect(() => frontier.written(50, 5)).toThrow(/written twice/);
    frontier.written(100, 10);
    expect(asked).toEqual([115]);
  });
});
