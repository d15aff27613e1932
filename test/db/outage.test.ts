import { describe, expect, it } from 'vitest';
import { databaseOutage } from '../../src/db/outage.js';

/** The real drivers' errors are exercised in test/http/database-outage.test.ts; these pin the table. */
const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('databaseOutage', () => {
  it.each([
    [withCode('ECONNREFUSED'), 'unreachable'],
    [withCode('57P01', 'terminating connection due to administrator command'), 'server error 57P01'],
    [withCode('57P03', 'the database system is starting up'), 'server error 57P03'],
    [withCode('08006'), 'server error 08006'],
    [withCode('53300', 'too many clients'), 'server error 53300'],
    [new Error('Connection terminated unexpectedly'), 'connection lost'],
    [new Error('timeout exceeded when trying to connect'), 'connection lost'],
    [withCode('SQLITE_FULL', 'database or disk is full'), 'disk full'],
    [withCode('SQLITE_IOERR_WRITE'), 'I/O error'],
    [withCode('SQLITE_BUSY', 'database is locked'), 'locked by another connection'],
    [withCode('SQLITE_READONLY_DBMOVED'), 'read-only'],
    [withCode('SQLITE_CANTOPEN'), 'cannot open the database file'],
    [new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]), 'unreachable'],
  ])('%s → %s', (error, reason) => {
    expect(databaseOutage(error)).toBe(reason);
  });

  it.each([
    withCode('23505', 'duplicate key value violates unique constraint'),
    withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00'),
    withCode('42P01', 'relation does not exist'),
    withCode('SQLITE_CONSTRAINT_UNIQUE'),
    withCode('SQLITE_CORRUPT'),
    new TypeError('Cannot read properties of undefined'),
    'not an error',
    undefined,
  ])('leaves %s alone (a bug or a client mistake, not an outage)', (error) => {
    expect(databaseOutage(error)).toBeUndefined();
  });

  it('does not look into causes: an upstream fetch refused is not a database outage', () => {
    const fetchFailed = new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') });
    expect(databaseOutage(fetchFailed)).toBeUndefined();
  });
});
