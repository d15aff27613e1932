import type { FastifyRequest } from 'fastify';
import { Invalid } from '../errors.js';

/**
 * Every string a client sends (body, query string, path parameters, and the names of their fields)
 * is refused with a 400 naming the field when it holds a C0 control character or DEL. No field of
 * the API has a use for them, and they must never reach a database: PostgreSQL answers a NUL with an
 * error where SQLite stores it, so refusing here keeps both deployments alike.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

export async function refuseControlCharacters(request: FastifyRequest): Promise<void> {
  const parts: [string, unknown][] = [
    ['params', request.params],
    ['querystring', request.query],
    ['body', request.body],
  ];
  for (const [where, value] of parts) {
    const field = controlCharacterField(where, value);
    if (field !== undefined) {
      throw new Invalid(
        'VALIDATION_FAILED',
        `${field} must not contain control characters (U+0000–U+001F, U+007F)`,
      );
    }
  }
}

/**
 * The dotted path of the first string (or field name) holding a control character, if any.
 * Iterative, so a deeply nested JSON body cannot overflow the stack.
 */
export function controlCharacterField(root: string, value: unknown): string | undefined {
  const pending: [string, unknown][] = [[root, value]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [where, current] = next;
    if (typeof current === 'string') {
      if (CONTROL_CHARACTER.test(current)) return where;
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push([`${where}.${i}`, current[i]]);
    } else if (current !== null && typeof current === 'object') {
      const entries = Object.entries(current);
      for (const [key] of entries) if (CONTROL_CHARACTER.test(key)) return `${where}: a field name`;
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, unknown];
        pending.push([`${where}.${key.length > 64 ? `${key.slice(0, 64)}…` : key}`, item]);
      }
    }
  }
  return undefined;
}
