import Type, { type Static } from 'typebox';
import { DURABLE_EVENT_TYPES } from '../events/hub-event.js';
import { Nullable } from './schemas.js';

/** Wire shapes (snake_case) of the webhook routes. */
const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Nullable(Timestamp);
const EventTypeName = Type.String({
  minLength: 1,
  maxLength: 64,
  description: `One of ${DURABLE_EVENT_TYPES.join(', ')} (job.progress is SSE-only)`,
});

export const NewWebhookBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'http(s) URL the events are POSTed to; no credentials in it',
    }),
    events: Type.Array(EventTypeName, { minItems: 1, maxItems: 32 }),
    secret: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        description: 'HMAC-SHA256 key for X-ModelHub-Signature; stored, never returned',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Webhook = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  has_secret: Type.Boolean({
    description: 'Whether deliveries are signed; the secret itself is never shown',
  }),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export const WebhookDelivery = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Sent as X-ModelHub-Delivery' }),
  event_id: Type.Integer({ description: 'The event sequence number (`id` in the POSTed body)' }),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('dead')]),
  attempts: Type.Integer({ description: 'Attempts made so far' }),
  next_attempt_at: Nullable(Timestamp, {
    description: 'When the next attempt is due; null once succeeded or dead',
  }),
  last_status_code: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  created_at: Timestamp,
  delivered_at: NullableTimestamp,
});

export const WebhookIdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
export const DeliveryIdParams = Type.Object({
  id: Type.String({ format: 'uuid' }),
  delivery_id: Type.String({ format: 'uuid' }),
});

export const DeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);

export type WebhookWire = Static<typeof Webhook>;
export type WebhookDeliveryWire = Static<typeof WebhookDelivery>;
