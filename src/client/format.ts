/** Text helpers for the CLI's human output: sizes, durations, times, tables, bars. */

export {
  formatBytes,
  formatDuration,
  formatEta,
  formatRate,
  formatTimestamp,
  percentOf,
  secondsBetween,
  shortHash,
} from '../format/units.js';

/** Keeps the end of a path, which names the file: `…/text_encoder/model.safetensors`. */
export function truncateStart(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 1 ? text.slice(-width) : `…${text.slice(-(width - 1))}`;
}

export function truncateEnd(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 1 ? text.slice(0, width) : `${text.slice(0, width - 1)}…`;
}

export function renderBar(fraction: number, width: number): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(clamped * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** Left-aligned columns two spaces apart; the last column is not padded. Cells are made `terminalSafe`. */
export function renderTable(headers: readonly string[], cells: readonly (readonly string[])[]): string {
  const rows = cells.map((row) => row.map(terminalSafe));
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * What a terminal would act on instead of showing: C0 and C1 controls (ESC starts a colour, title
 * or cursor sequence; CR and BS overwrite what came before), DEL, line and paragraph separators,
 * and the bidirectional marks, embeddings, overrides and isolates that reorder what is shown (a
 * name that reads `model.json` but is stored as something else).
 */
const TERMINAL_UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text that came from the hub or upstream (file names, job logs and errors, messages) made safe to
 * print: every character in `TERMINAL_UNSAFE` becomes a visible escape (`\x01`, `\x1b`, `\u202e`);
 * everything else, other Unicode included, is kept. Every such string the CLI prints goes through here.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** `--json` output: one JSON line whose text is terminal-safe too (C1 and bidi characters as `\u` escapes, same value). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
