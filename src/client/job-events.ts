import { EventSource, type FetchLike } from 'eventsource';
import { HUB_EVENT_TYPES, type HubEvent } from './wire.js';

export interface EventStreamHandlers {
  onEvent(event: HubEvent): void;
  /** Connected, first time or again after a drop. */
  onOpen(): void;
  /** The connection dropped; the stream is reconnecting on its own (sending Last-Event-ID). */
  onDisconnect(reason: string): void;
  /** The stream will not reconnect (HTTP error, not an event stream, malformed event). */
  onFailure(error: Error): void;
}

export interface EventStream {
  close(): void;
}

/**
 * Follows one SSE stream of hub events. `eventsource` resumes after a drop by sending the last
 * `id:` it saw as Last-Event-ID, so the hub replays only what was missed; a stored event that comes
 * again is handed on once.
 */
export function openEventStream(
  url: URL,
  handlers: EventStreamHandlers,
  options: { fetch?: FetchLike } = {},
): EventStream {
  const source = new EventSource(url, options.fetch ? { fetch: options.fetch } : {});
  let closed = false;
  // A reconnect replays after the last id seen; stored events may arrive out of id order (several
  // workers publish them), so duplicates are recognised by id, not by "not above the last one".
  const seen = new Set<number>();
  const close = () => {
    closed = true;
    source.close();
  };
  const receive = (message: MessageEvent) => {
    if (closed) return;
    const event = parseHubEvent(message.data);
    if (event) {
      if (event.id !== null) {
        if (seen.has(event.id)) return;
        seen.add(event.id);
      }
      handlers.onEvent(event);
    } else {
      close();
      handlers.onFailure(new Error(`the hub sent an event that is not a hub event: ${String(message.data)}`));
    }
  };
  for (const type of HUB_EVENT_TYPES) source.addEventListener(type, receive);
  source.addEventListener('open', () => {
    if (!closed) handlers.onOpen();
  });
  source.addEventListener('error', (error) => {
    if (closed) return;
    const reason = error.message ?? (error.code === undefined ? 'connection lost' : `HTTP ${error.code}`);
    if (source.readyState === EventSource.CLOSED) {
      closed = true;
      handlers.onFailure(new Error(reason));
    } else {
      handlers.onDisconnect(reason);
    }
  });
  return { close };
}

export function parseHubEvent(data: unknown): HubEvent | undefined {
  if (typeof data !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const candidate = parsed as Partial<Record<keyof HubEvent, unknown>>;
  const known = (HUB_EVENT_TYPES as readonly unknown[]).includes(candidate.type);
  if (!known || typeof candidate.at !== 'string' || typeof candidate.data !== 'object' || !candidate.data) {
    return undefined;
  }
  return parsed as HubEvent;
}
