import { nowIso } from '../clock.js';
import type { Db } from '../db/connection.js';
import { EventsRepository } from '../db/events.repo.js';
import { toJson } from '../db/json.js';
import type { EventBus } from './event-bus.js';
import type { HubEvent, NewEvent } from './hub-event.js';

/**
 * The outbox. A state change and the events describing it are committed together: the event rows
 * (what SSE clients resume from) and one webhook delivery per subscribed webhook. Only after the
 * commit are the events published live, so no listener ever sees an event whose change rolled back,
 * and a crash after the commit loses no delivery.
 */
export class EventLog {
  private readonly deliveryListeners = new Set<() => void>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
  ) {}

  async commit<T>(
    change: (trx: Db) => Promise<T>,
    events: readonly NewEvent[] | ((result: T) => readonly NewEvent[]),
  ): Promise<T> {
    const committed: HubEvent[] = [];
    let deliveries = 0;
    const result = await this.db.transaction().execute(async (trx) => {
      const value = await change(trx);
      const wanted = typeof events === 'function' ? events(value) : events;
      for (const event of wanted) {
        const recorded = await record(trx, event);
        committed.push(recorded.event);
        deliveries += recorded.deliveries;
      }
      return value;
    });
    for (const event of committed) this.bus.publish(event);
    if (deliveries > 0) for (const listener of this.deliveryListeners) listener();
    return result;
  }

  /**
   * Called after each commit that queued webhook deliveries, so this process's dispatcher sends them
   * at once instead of at its next poll (and does not query for deliveries after every event).
   */
  onDeliveriesQueued(listener: () => void): () => void {
    this.deliveryListeners.add(listener);
    return () => this.deliveryListeners.delete(listener);
  }

  /** Records events that go with no other write. */
  async record(...events: NewEvent[]): Promise<void> {
    await this.commit(async () => undefined, events);
  }

  /** Live only, never stored: progress snapshots, which the job row already holds. */
  publishTransient(event: NewEvent): void {
    this.bus.publish(toHubEvent(event, null, nowIso()));
  }
}

async function record(trx: Db, event: NewEvent): Promise<{ event: HubEvent; deliveries: number }> {
  const at = nowIso();
  const { id: _unknownYet, ...rest } = toHubEvent(event, null, at);
  const { seq, deliveries } = await new EventsRepository(trx).insertWithDeliveries(
    {
      type: event.type,
      at,
      jobId: event.job_id ?? null,
      modelId: event.model_id ?? null,
      artifactId: event.artifact_id ?? null,
      data: toJson(event.data),
    },
    // The delivery body is the event's JSON with its seq first: `{"id":<seq>,` + this.
    toJson(rest).slice(1),
  );
  return { event: toHubEvent(event, seq, at), deliveries };
}

export function toHubEvent(event: NewEvent, id: number | null, at: string): HubEvent {
  return {
    id,
    type: event.type,
    at,
    job_id: event.job_id ?? null,
    model_id: event.model_id ?? null,
    artifact_id: event.artifact_id ?? null,
    data: event.data,
  };
}
