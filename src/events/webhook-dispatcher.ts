import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { nowIso } from '../clock.js';
import type { SecretBox } from '../db/secret-box.js';
import type { ClaimedDelivery, WebhooksRepository } from '../db/webhooks.repo.js';
import { errorMessage } from '../errors.js';
import type { UrlPolicy } from './url-policy.js';
import { SIGNATURE_HEADER, signBody } from './webhook-signature.js';

export interface WebhookDispatcherOptions {
  webhooks: WebhooksRepository;
  /** Subscribes to "a commit queued deliveries" (EventLog.onDeliveriesQueued); returns the unsubscribe. */
  deliveriesQueued: (wake: () => void) => () => void;
  policy: UrlPolicy;
  /** Opens the stored secrets deliveries are signed with. */
  secrets: SecretBox;
  /** This process's identity, written as a claimed delivery's `locked_by`. */
  owner: string;
  /** Budget for one attempt: DNS check, connect, response headers and body (ms). */
  timeoutMs: number;
  /** Attempts before a delivery is `dead`. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt with jitter, capped at one hour (ms). */
  retryBaseMs: number;
  userAgent: string;
  logger: Logger;
  /** How often due deliveries are looked for without a wake-up (ms, default 1000). */
  pollIntervalMs?: number;
  /** Attempts in flight in this process (default 16). */
  maxInFlight?: number;
  /** Attempts in flight to one webhook in this process (default 2), so a hung receiver holds only its own. */
  maxInFlightPerWebhook?: number;
}

const RETRY_CAP_MS = 60 * 60 * 1000;
const LAST_ERROR_MAX_CHARS = 500;
/** A longer answer is cut off (the connection is then closed rather than reused). */
const RESPONSE_DRAIN_LIMIT_BYTES = 64 * 1024;
/** Past an attempt's own timeout, how long a claim stays ours before another dispatcher may take it. */
const LOCK_MARGIN_MS = 30_000;

/** Delay before the attempt after failed attempt `attempt` (1-based): exponential, half of it jitter. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(RETRY_CAP_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

type AttemptResult =
  | { kind: 'delivered'; statusCode: number }
  | { kind: 'failed'; statusCode: number | null; error: string }
  | { kind: 'interrupted' };

/**
 * Sends the webhook outbox. Runs in every process; claims in the database make several dispatchers
 * safe (each delivery is attempted by one at a time). Woken by committed events and freed slots,
 * and polls for retries that come due. It is outside the job path: jobs only insert delivery rows,
 * so a slow receiver never slows a job, and per-webhook slots keep it from slowing other receivers.
 */
export class WebhookDispatcher {
  private readonly agent: Agent;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly inFlightByWebhook = new Map<string, number>();
  private readonly stopping = new AbortController();
  private readonly pollIntervalMs: number;
  private readonly maxInFlight: number;
  private readonly maxInFlightPerWebhook: number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private pass: Promise<void> | undefined;
  private passRequested = false;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 16;
    this.maxInFlightPerWebhook = options.maxInFlightPerWebhook ?? 2;
    const lookup = options.policy.connectLookup();
    // No timeouts of undici's own: each delivery's abort signal is the one limit, so a receiver
    // that never answers always fails with the same words (undici's coarse timers could fire first).
    this.agent = new Agent({
      connections: this.maxInFlight,
      ...(lookup ? { connect: { lookup } } : {}),
    });
  }

  start(): void {
    if (this.timer || this.stopping.signal.aborted) return;
    this.unsubscribe = this.options.deliveriesQueued(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Looks for due deliveries now, or right after the pass that is running. */
  wake(): void {
    if (this.stopping.signal.aborted) return;
    if (this.pass) {
      this.passRequested = true;
      return;
    }
    this.pass = this.runPasses().finally(() => {
      this.pass = undefined;
      if (this.passRequested) this.wake();
    });
  }

  /** Stops claiming, aborts attempts in flight and hands their deliveries back unchanged. */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.pass;
    await Promise.allSettled(this.inFlight.values());
    await this.agent.destroy();
  }

  private async runPasses(): Promise<void> {
    do {
      this.passRequested = false;
      try {
        await this.claimAndLaunch();
      } catch (error) {
        this.options.logger.warn({ err: error }, 'webhook dispatch pass failed; retrying at the next poll');
      }
    } while (this.passRequested && !this.stopping.signal.aborted);
  }

  private async claimAndLaunch(): Promise<void> {
    const { webhooks, owner, timeoutMs } = this.options;
    const now = new Date();
    const at = now.toISOString();
    const lockUntil = new Date(now.getTime() + timeoutMs + LOCK_MARGIN_MS).toISOString();
    for (const webhookId of await webhooks.dueWebhookIds(at)) {
      if (this.stopping.signal.aborted) return;
      const free = Math.min(
        this.maxInFlightPerWebhook - (this.inFlightByWebhook.get(webhookId) ?? 0),
        this.maxInFlight - this.inFlight.size,
      );
      if (free <= 0) continue;
      for (const delivery of await webhooks.claimDue(owner, at, lockUntil, free, webhookId)) {
        this.launch(delivery);
      }
    }
  }

  private launch(delivery: ClaimedDelivery): void {
    const webhookId = delivery.webhookId;
    this.inFlightByWebhook.set(webhookId, (this.inFlightByWebhook.get(webhookId) ?? 0) + 1);
    const attempt = this.attemptAndRecord(delivery)
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: error, webhookId, deliveryId: delivery.id },
          'could not record a webhook attempt; the delivery is retried once its claim lapses',
        ),
      )
      .finally(() => {
        this.inFlight.delete(delivery.id);
        const left = (this.inFlightByWebhook.get(webhookId) ?? 1) - 1;
        if (left > 0) this.inFlightByWebhook.set(webhookId, left);
        else this.inFlightByWebhook.delete(webhookId);
        this.wake();
      });
    this.inFlight.set(delivery.id, attempt);
  }

  private async attemptAndRecord(delivery: ClaimedDelivery): Promise<void> {
    const { webhooks, owner, logger, maxAttempts, retryBaseMs } = this.options;
    const result = await this.post(delivery);
    const at = nowIso();
    const attempt = delivery.attempts + 1;
    const context = {
      webhookId: delivery.webhookId,
      deliveryId: delivery.id,
      eventType: delivery.eventType,
      attempt,
    };
    if (result.kind === 'interrupted') {
      await webhooks.release([delivery.id], owner, at);
      return;
    }
    if (result.kind === 'delivered') {
      await webhooks.markSucceeded(delivery.id, owner, { at, statusCode: result.statusCode, error: null });
      logger.debug({ ...context, statusCode: result.statusCode }, 'webhook delivered');
      return;
    }
    const outcome = { at, statusCode: result.statusCode, error: result.error };
    if (attempt >= maxAttempts) {
      await webhooks.markDead(delivery.id, owner, outcome);
      logger.warn(
        { ...context, error: result.error },
        'webhook delivery failed its last attempt; marked dead',
      );
      return;
    }
    const delayMs = retryDelayMs(attempt, retryBaseMs);
    const nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
    await webhooks.markRetry(delivery.id, owner, { ...outcome, nextAttemptAt });
    // A retry due before the next poll gets its own wake-up, so short backoffs stay short.
    if (delayMs < this.pollIntervalMs) setTimeout(() => this.wake(), delayMs + 1).unref();
    logger.warn({ ...context, error: result.error, nextAttemptAt }, 'webhook delivery failed; will retry');
  }

  /** One POST; never throws. Redirects are not followed: a 3xx is a failed attempt. */
  private async post(delivery: ClaimedDelivery): Promise<AttemptResult> {
    const stop = this.stopping.signal;
    if (stop.aborted) return { kind: 'interrupted' };
    const { timeoutMs, userAgent, policy, secrets } = this.options;
    let secret: string | null;
    try {
      secret = delivery.secret === null ? null : secrets.open(delivery.secret);
    } catch (error) {
      return { kind: 'failed', statusCode: null, error: `not sent: ${errorMessage(error)}` };
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, stop]);
    try {
      await untilAborted(policy.check(delivery.url), signal);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': userAgent,
        'X-ModelHub-Event': delivery.eventType,
        'X-ModelHub-Delivery': delivery.id,
      };
      if (secret !== null) headers[SIGNATURE_HEADER] = signBody(delivery.body, secret);
      const response = await request(delivery.url, {
        method: 'POST',
        headers,
        body: delivery.body,
        dispatcher: this.agent,
        signal,
      });
      // Drained so the connection can be reused; what the receiver says in it does not matter.
      await response.body.dump({ signal, limit: RESPONSE_DRAIN_LIMIT_BYTES }).catch(() => undefined);
      const statusCode = response.statusCode;
      if (statusCode >= 200 && statusCode < 300) return { kind: 'delivered', statusCode };
      const redirect = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : '';
      return { kind: 'failed', statusCode, error: `receiver answered HTTP ${statusCode}${redirect}` };
    } catch (error) {
      if (stop.aborted) return { kind: 'interrupted' };
      if (timeout.aborted)
        return { kind: 'failed', statusCode: null, error: `timed out after ${timeoutMs} ms` };
      return { kind: 'failed', statusCode: null, error: describeFailure(error) };
    }
  }
}

function describeFailure(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current !== undefined; depth++) {
    const message = errorMessage(current);
    if (message && !parts.includes(message)) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  const text = parts.join(': ') || 'request failed';
  return text.length > LAST_ERROR_MAX_CHARS ? `${text.slice(0, LAST_ERROR_MAX_CHARS - 1)}…` : text;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
