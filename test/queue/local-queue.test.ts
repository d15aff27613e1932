import { describe, expect, it } from 'vitest';
import { LocalQueue } from '../../src/queue/local-queue.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('LocalQueue', () => {
  it('runs jobs in order with at most `concurrency` at once, and waits for them on stop', async () => {
    const queue = new LocalQueue(2);
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const started: string[] = [];
    let running = 0;
    let maxRunning = 0;
    queue.start(async (id) => {
      started.push(id);
      running++;
      maxRunning = Math.max(maxRunning, running);
      const gate = deferred();
      gates.set(id, gate);
      await gate.promise;
      running--;
    });
    for (const id of ['a', 'b', 'c', 'd']) await queue.enqueue(id);
    expect(started).toEqual(['a', 'b']);
    gates.get('a')?.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b', 'c']);
    const stopping = queue.stop();
    for (const id of ['b', 'c']) gates.get(id)?.resolve();
    await stopping;
    expect(started).toEqual(['a', 'b', 'c']);
    expect(maxRunning).toBe(2);
  });

  it('keeps ids queued before start and ignores duplicates', async () => {
    const queue = new LocalQueue(1);
    const seen: string[] = [];
    await queue.enqueue('x');
    await queue.enqueue('x');
    await queue.enqueue('y');
    const done = deferred();
    queue.start(async (id) => {
      seen.push(id);
      if (seen.length === 2) done.resolve();
    });
    await done.promise;
    expect(seen).toEqual(['x', 'y']);
  });

  it('reports a crashing handler and keeps going', async () => {
    const errors: string[] = [];
    const queue = new LocalQueue(1, (_e, id) => errors.push(id));
    const done = deferred();
    queue.start(async (id) => {
      if (id === 'bad') throw new Error('crash');
      done.resolve();
    });
    await queue.enqueue('bad');
    await queue.enqueue('good');
    await done.promise;
    expect(errors).toEqual(['bad']);
  });
});
