import { Invalid } from '../errors.js';

type KeyPart = 'string' | 'integer';
type KeyValue<K extends KeyPart> = K extends 'string' ? string : number;

// A key part goes into a query: a NUL is an error in PostgreSQL, so it is refused here, as in SQLite.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Keyset paging: a page's `next_cursor` is the sort key of its last row, opaque to clients. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key a cursor holds, checked against its expected shape; anything else is a 400. */
export function decodeCursor<const K extends readonly KeyPart[]>(
  cursor: string,
  shape: K,
): { [I in keyof K]: KeyValue<K[I]> } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      value.length === shape.length &&
      shape.every((kind, i) =>
        kind === 'string'
          ? typeof value[i] === 'string' && !CONTROL_CHARACTER.test(value[i])
          : Number.isSafeInteger(value[i]),
      )
    ) {
      return value as { [I in keyof K]: KeyValue<K[I]> };
    }
  } catch {
    // reported below
  }
  throw new Invalid('VALIDATION_FAILED', 'cursor is not a value returned as next_cursor');
}
