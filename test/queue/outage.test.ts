import { describe, expect, it } from 'vitest';
import { QueueDisconnected, queueOutage } from '../../src/queue/outage.js';

/** The real Redis outage is exercised in test/http/queue-outage.test.ts; these pin the table. */
describe('queueOutage', () => {
  it.each([
    [new QueueDisconnected('Redis connection is reconnecting'), 'Redis connection is reconnecting'],
    [
      Object.assign(new Error('Reached the max retries per request limit (which is 20).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      'Redis did not answer',
    ],
    [new Error('Connection is closed.'), 'Redis connection lost'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'Redis connection lost'],
  ])('%s → %s', (error, reason) => {
    expect(queueOutage(error)).toBe(reason);
  });

  it.each([new Error('ERR unknown command'), new TypeError('x is not a function'), 42])(
    'leaves %s alone',
    (error) => {
      expect(queueOutage(error)).toBeUndefined();
    },
  );
});
