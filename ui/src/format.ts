/** The same units as the CLI: one shared module (src/format/units.ts), no Node imports. */
export {
  countOf,
  formatBytes,
  formatDuration,
  formatEta,
  formatRate,
  formatTimestamp,
  percentOf,
  secondsBetween,
  shortHash,
} from '../../src/format/units.js';

/** The id as the UI shortens it: `Job 1a2b3c4d`. */
export const shortId = (id: string): string => id.slice(0, 8);

// Formatters are made once: a toLocale…String call builds one each time, which a list of 1,000 rows feels.
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** `2025-01-02T10:03:04.123Z` → a local time, with the date only when it is not today. */
export function formatTime(iso: string | null): string {
  if (iso === null) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const now = new Date();
  const sameDay =
    date.getFullYear() === now.getFullYear() &&
    date.getMonth() === now.getMonth() &&
    date.getDate() === now.getDate();
  return sameDay ? TIME.format(date) : `${DAY.format(date)} ${TIME.format(date)}`;
}
