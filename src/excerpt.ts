/**
 * How error messages quote client input: JSON-quoted (control characters escaped, DEL and C1 too,
 * which JSON leaves raw) and cut to a short prefix, so a 100 KB value is never echoed back (or
 * logged) whole.
 */
export const EXCERPT_MAX_CHARS = 100;

export function quoteExcerpt(value: string, maxChars = EXCERPT_MAX_CHARS): string {
  const quoted = JSON.stringify(value.slice(0, maxChars)).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return value.length <= maxChars ? quoted : `${quoted}… (${value.length} characters)`;
}
