import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { HubEvent } from './hub-event.js';

export type EventListener = (event: HubEvent) => void;

/**
 * Fan-out of committed (and transient progress) events to live listeners: SSE streams, the webhook
 * dispatcher's wake-up, metrics. In-process when embedded; over Redis pub/sub when workers run in
 * other processes, so an API process streams what any worker does.
 */
export interface EventBus {
  publish(event: HubEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  close(): Promise<void>;
}

export class LocalEventBus implements EventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(event: HubEvent): void {
    this.emitter.emit('event', event);
  }

  subscribe(listener: EventListener): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Publishes on one Redis channel and delivers what arrives on it (this process's own events
 * included) to local listeners. The subscriber is a duplicate connection: a subscribed Redis
 * connection can run no other command.
 */
export class RedisEventBus implements EventBus {
  private readonly local = new LocalEventBus();
  private readonly subscriber: Redis;
  private readonly channel: string;

  private constructor(
    private readonly publisher: Redis,
    prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.channel = `${prefix}:events`;
    this.subscriber = publisher.duplicate();
    // Reconnection attempts while Redis is down are reported, not printed as unhandled.
    this.subscriber.on('error', (error: Error) => this.onError(error));
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        this.local.publish(JSON.parse(message) as HubEvent);
      } catch (error) {
        this.onError(error);
      }
    });
  }

  static async connect(publisher: Redis, prefix: string, onError: (error: unknown) => void) {
    const bus = new RedisEventBus(publisher, prefix, onError);
    await bus.subscriber.subscribe(bus.channel);
    return bus;
  }

  publish(event: HubEvent): void {
    // Events are already durable (or transient progress): a lost live copy is recovered by resume.
    this.publisher.publish(this.channel, JSON.stringify(event)).catch(this.onError);
  }

  subscribe(listener: EventListener): () => void {
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    await this.local.close();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
