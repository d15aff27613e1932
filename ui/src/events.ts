/**
 * Live data, from Server-Sent Events only. One EventSource per stream (`/v1/hub/events` for the
 * whole hub, `/v1/hub/jobs/{id}/events` for one job), with:
 * - the key as `?access_token=` (an EventSource cannot send headers);
 * - the last stored event id kept, so a dropped stream resumes with `?last_event_id=` and loses
 *   nothing stored (`job.progress` is live only and has no id);
 * - a state every page can show: "Live", or "Reconnecting…" from a drop until the stream is back;
 * - a resync signal when a dropped stream comes back with nothing to resume after (no stored event
 *   seen yet): what happened meanwhile is not replayed, so pages load their data again.
 */
import { currentKey, type HubEvent, hub } from './api.js';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

/** Every event type the hub sends; a named SSE event is delivered only to a listener for its name. */
const EVENT_TYPES = [
  'job.created',
  'job.progress',
  'job.completed',
  'job.failed',
  'job.cancelled',
  'job.retried',
  'artifact.completed',
  'artifact.failed',
  'model.synced',
];
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15_000;

type EventListener = (event: HubEvent) => void;

export class EventStream {
  private source: EventSource | null = null;
  private lastEventId: string | null = null;
  private retryMs = RETRY_FIRST_MS;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private listeners = new Set<EventListener>();
  private resyncListeners = new Set<() => void>();
  private dropped = false;
  state: StreamState = 'connecting';

  constructor(private readonly path: string) {
    streams.add(this);
    this.connect();
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called when the stream is back after a drop without a stored event to resume after. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.listeners.clear();
    this.resyncListeners.clear();
    streams.delete(this);
    notifyState();
  }

  private url(): string {
    const params = new URLSearchParams();
    if (this.lastEventId !== null) params.set('last_event_id', this.lastEventId);
    const key = currentKey();
    if (key) params.set('access_token', key);
    const query = params.toString();
    return query ? `${this.path}?${query}` : this.path;
  }

  private connect(): void {
    if (this.closed) return;
    const source = new EventSource(this.url());
    const resumable = this.lastEventId !== null;
    this.source = source;
    source.onopen = () => {
      this.retryMs = RETRY_FIRST_MS;
      this.setState('live');
      if (this.dropped && !resumable) for (const listener of this.resyncListeners) listener();
      this.dropped = false;
    };
    const deliver = (message: MessageEvent<string>) => {
      if (message.lastEventId) this.lastEventId = message.lastEventId;
      let event: HubEvent;
      try {
        event = JSON.parse(message.data) as HubEvent;
      } catch {
        return;
      }
      if (event.id !== null) this.lastEventId = String(event.id);
      for (const listener of this.listeners) listener(event);
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, deliver as (e: Event) => void);
    source.onerror = () => {
      // Reconnect on our own schedule, resuming after the last stored event.
      source.close();
      if (this.source !== source || this.closed) return;
      this.source = null;
      this.dropped = true;
      this.setState('reconnecting');
      // A refused key shows as a dropped stream: asking the API brings up the key prompt on a 401.
      hub.whoami().catch(() => {});
      this.timer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
  }

  private setState(state: StreamState): void {
    this.state = state;
    notifyState();
  }
}

const streams = new Set<EventStream>();
const stateListeners = new Set<(state: StreamState) => void>();

/** The state of all open streams together: reconnecting if any is, live once all are. */
export function connectionState(): StreamState {
  let state: StreamState = 'live';
  for (const stream of streams) {
    if (stream.state === 'reconnecting') return 'reconnecting';
    if (stream.state === 'connecting') state = 'connecting';
  }
  return state;
}

export function onConnectionState(listener: (state: StreamState) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

function notifyState(): void {
  const state = connectionState();
  for (const listener of stateListeners) listener(state);
}

/** The hub-wide stream, shared by every page; opened once a key (or none) is known to work. */
let hubStream: EventStream | null = null;

export function openHubStream(): EventStream {
  hubStream ??= new EventStream('/v1/hub/events');
  return hubStream;
}

export function closeHubStream(): void {
  hubStream?.close();
  hubStream = null;
}

/** Subscribes to the hub-wide stream (opening it if needed). */
export function onHubEvent(listener: EventListener): () => void {
  return openHubStream().subscribe(listener);
}

/** Called when the hub-wide stream is back after a drop it cannot resume: reload what is shown. */
export function onHubResync(listener: () => void): () => void {
  return openHubStream().onResync(listener);
}
