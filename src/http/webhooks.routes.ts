import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { DeliveryView, WebhooksService, WebhookView } from '../services/webhooks.service.js';
import { ErrorBody, Nullable } from './schemas.js';
import {
  DeliveriesQuery,
  DeliveryIdParams,
  NewWebhookBody,
  Webhook,
  WebhookDelivery,
  type WebhookDeliveryWire,
  WebhookIdParams,
  type WebhookWire,
} from './webhook-schemas.js';

const tags = ['webhooks'];

export function webhooksRoutes(deps: { webhooks: WebhooksService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/v1/hub/webhooks',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Register a webhook',
          description:
            'Events of the listed types are POSTed to `url` as JSON, signed with `secret` when one is given (X-ModelHub-Signature: sha256=<hex HMAC-SHA256 of the body>).',
          tags,
          body: NewWebhookBody,
          response: { 201: Webhook, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody },
        },
      },
      async (request, reply) => {
        const { url, events, secret } = request.body;
        const webhook = await deps.webhooks.createWebhook({
          url,
          events,
          ...(secret === undefined ? {} : { secret }),
        });
        return reply.status(201).send(presentWebhook(webhook));
      },
    );

    app.get(
      '/v1/hub/webhooks',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'List webhooks, oldest first',
          tags,
          response: { 200: Type.Object({ items: Type.Array(Webhook) }) },
        },
      },
      async () => ({ items: (await deps.webhooks.listWebhooks()).map(presentWebhook) }),
    );

    app.get(
      '/v1/hub/webhooks/:id',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'One webhook',
          tags,
          params: WebhookIdParams,
          response: { 200: Webhook, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => presentWebhook(await deps.webhooks.getWebhook(request.params.id)),
    );

    app.delete(
      '/v1/hub/webhooks/:id',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Delete a webhook and its deliveries',
          tags,
          params: WebhookIdParams,
          response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request, reply) => {
        await deps.webhooks.deleteWebhook(request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/v1/hub/webhooks/:id/deliveries',
      {
        config: { scope: 'admin' },
        schema: {
          summary: "A webhook's deliveries, newest first",
          tags,
          params: WebhookIdParams,
          querystring: DeliveriesQuery,
          response: {
            200: Type.Object({
              items: Type.Array(WebhookDelivery),
              next_cursor: Nullable(Type.String()),
            }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const page = await deps.webhooks.listDeliveries(request.params.id, {
          limit: limit ?? 50,
          ...(cursor ? { cursor } : {}),
        });
        return { items: page.items.map(presentDelivery), next_cursor: page.nextCursor };
      },
    );

    app.post(
      '/v1/hub/webhooks/:id/deliveries/:delivery_id/redeliver',
      {
        config: { scope: 'admin' },
        schema: {
          summary: 'Send a dead or succeeded delivery again',
          tags,
          params: DeliveryIdParams,
          response: { 202: WebhookDelivery, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const delivery = await deps.webhooks.redeliver(request.params.id, request.params.delivery_id);
        return reply.status(202).send(presentDelivery(delivery));
      },
    );
  };
}

function presentWebhook(w: WebhookView): WebhookWire {
  return {
    id: w.id,
    url: w.url,
    events: w.events,
    has_secret: w.hasSecret,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  };
}

function presentDelivery(d: DeliveryView): WebhookDeliveryWire {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    created_at: d.createdAt,
    delivered_at: d.deliveredAt,
  };
}
