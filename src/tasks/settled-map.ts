import pMap from 'p-map';

/**
 * `pMap` that, when one mapper rejects, starts no more and waits for those already running to end
 * before rejecting. A handler stopped by its signal (a cancel, a lost lease) thus writes its job's
 * final state only after every transfer it started has stopped and released its content lock.
 */
export async function settledMap<T, R>(
  items: Iterable<T>,
  mapper: (item: T) => Promise<R>,
  concurrency: number,
): Promise<R[]> {
  const running = new Set<Promise<R>>();
  try {
    return await pMap(
      items,
      (item) => {
        const run = mapper(item);
        running.add(run);
        run.then(
          () => running.delete(run),
          () => running.delete(run),
        );
        return run;
      },
      { concurrency },
    );
  } catch (error) {
    await Promise.allSettled([...running]);
    throw error;
  }
}
