import { randomUUID } from 'node:crypto';

/** Timestamps are ISO-8601 UTC with milliseconds everywhere: sortable as text in every dialect. */
export function nowIso(): string {
  return new Date().toISOString();
}

export function newId(): string {
  return randomUUID();
}
