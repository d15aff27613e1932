/**
 * Units as people read them, one way for every client (the CLI and the admin UI): sizes, speeds,
 * durations, ETAs and times. Pure functions, no Node imports, so a browser bundle can use them too.
 */

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

/** `1 file`, `3 files`: a count with its noun. */
export function countOf(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

/** Whole seconds to move `remainingBytes` at `bytesPerSecond`: 0 when nothing is left, null while nothing moves. */
export function secondsLeft(remainingBytes: number, bytesPerSecond: number): number | null {
  if (remainingBytes <= 0) return 0;
  return bytesPerSecond > 0 ? Math.ceil(remainingBytes / bytesPerSecond) : null;
}

/** An estimate of time left, in whole seconds (it is never precise to a tenth): `4 s`, `42 s`, `3m05s`; `?` when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.ceil(seconds);
  return whole < 60 ? `${whole} s` : formatDuration(whole);
}
