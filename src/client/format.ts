/** Text helpers for the CLI's human output: sizes, durations, times, tables, bars. */

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Binary units, one decimal: `512 B`, `1.5 KiB`, `8.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 'B';
  for (const next of BYTE_UNITS) {
    // Stop where one decimal would not round up to "1024.0".
    if (value < 1023.95) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `0.4 s`, `42 s`, `3m05s`, `2h07m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Seconds between two ISO timestamps, or null when either is missing or unparsable. */
export function secondsBetween(fromIso: string | null, toIso: string | null): number | null {
  if (fromIso === null || toIso === null) return null;
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  return Number.isFinite(ms) ? Math.max(0, ms) / 1000 : null;
}

/** `2025-01-02T10:03:04.123Z` → `2025-01-02 10:03:04Z`; anything else unchanged. */
export function formatTimestamp(iso: string | null): string {
  if (iso === null) return '-';
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
}

/** Whole percent, rounded down so 100% means done; null when the total is unknown. */
export function percentOf(done: number, total: number): number | null {
  if (total <= 0) return null;
  return Math.min(100, Math.floor((done / total) * 100));
}

export function shortHash(hash: string | null, length = 12): string {
  return hash === null ? '-' : hash.slice(0, length);
}

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
