import { describe, expect, it, vi } from 'vitest';
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

  it('drops a waiting id on remove, and leaves a running one to its handler', async () => {
    const queue = new LocalQueue(1);
    const started: string[] = [];
    const gate = deferred();
    const last = deferred();
    queue.start(async (id) => {
      started.push(id);
      if (id === 'a') await gate.promise;
      if (id === 'c') last.resolve();
    });
    for (const id of ['a', 'b', 'c']) await queue.enqueue(id);
    await queue.remove('b');
    await queue.remove('a');
    expect(queue.size).toBe(2);
    gate.resolve();
    await last.promise;
    await queue.stop();
    expect(started).toEqual(['a', 'c']);
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

  it('runs a job once at a time, and offers a later attempt again when the run ends', async () => {
    const queue = new LocalQueue(2);
    const started: string[] = [];
    const gates = [deferred(), deferred()];
    queue.start(async (id) => {
      started.push(id);
      await gates[started.length - 1]?.promise;
    });
    await queue.enqueue('x', 0);
    await queue.enqueue('x', 0);
    // Taken back from this process's own handler (its lease lapsed): not a second run beside it.
    await queue.enqueue('x', 1);
    await queue.enqueue('x', 1);
    expect(started).toEqual(['x']);
    expect(queue.size).toBe(1);
    gates[0]?.resolve();
    await vi.waitFor(() => expect(started).toEqual(['x', 'x']));
    gates[1]?.resolve();
    await queue.stop();
    expect(started).toEqual(['x', 'x']);
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
