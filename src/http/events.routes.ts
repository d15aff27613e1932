import type {} from '@fastify/sse';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { Invalid } from '../errors.js';
import type { HubEvent } from '../events/hub-event.js';
import type { EventsService } from '../services/events.service.js';
import { ErrorBody, JobIdParams } from './schemas.js';

/** A client this far behind is cut off; it reconnects with Last-Event-ID and loses nothing stored. */
const MAX_UNSENT_EVENTS = 10_000;

const StreamQuery = Type.Object(
  {
    last_event_id: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,15}$',
        description: 'Resume after this event id, for clients that cannot send the Last-Event-ID header',
      }),
    ),
    access_token: Type.Optional(
      Type.String({
        // An API key's form (also as `hf_mh_…`): anything else is refused before it is looked up.
        pattern: '^(hf_)?mh_[A-Za-z0-9_-]{43}$',
        description:
          'The API key, for clients that cannot send an Authorization header (a browser EventSource); never logged',
      }),
    ),
  },
  { additionalProperties: false },
);

/** The 200 of a stream, as OpenAPI describes it (the body is written by hand, never serialized). */
const STREAM_OK = {
  description:
    'An event stream (`text/event-stream`): `event: <type>`, `data: <event JSON>` and, for stored events, `id: <seq>` per message',
  content: { 'text/event-stream': { schema: Type.String() } },
};

const STREAM_DESCRIPTION =
  "Server-Sent Events. Each message has `event: <type>` and `data: <event JSON>`; stored events also have `id:`, which `Last-Event-ID` resumes after. `job.progress` (no id) is sent at most once per PROGRESS_INTERVAL_MS per running job, and at once, with its `data.takeover` ({from, to}), when the job changes workers, or with its `data.retry` ({message, attempt, max_retries, delay_ms}), when an upstream request of the job failed and is tried again (`message` is the line the job's log gets). A `: heartbeat` comment keeps idle streams open.";

/** The key may come as `?access_token=` here (EventSource sends no headers); logs never show it. */
const STREAM_CONFIG = { scope: 'read', keyInQuery: true } as const;

export function eventsRoutes(deps: { events: EventsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    const open = new Set<() => void>();
    // SSE responses never end by themselves; closing the server ends them so it can stop.
    app.addHook('preClose', async () => {
      for (const end of open) end();
    });

    const stream = async (
      reply: FastifyReply,
      jobId: string | undefined,
      lastEventId: string | undefined,
    ) => {
      const afterSeq = parseLastEventId(reply.sse.lastEventId ?? lastEventId);
      const { send, start } = serialSender(reply);
      const unsubscribe = await deps.events.open(
        { ...(jobId === undefined ? {} : { jobId }), ...(afterSeq === undefined ? {} : { afterSeq }) },
        send,
      );
      const end = () => {
        unsubscribe();
        open.delete(end);
        reply.sse.close();
      };
      open.add(end);
      reply.sse.onClose(() => {
        unsubscribe();
        open.delete(end);
      });
      reply.sse.keepAlive();
      reply.sse.sendHeaders();
      // Commits the response head now, so a client sees the stream open before the first event.
      reply.raw.write(': stream open\n\n');
      start();
    };

    app.get(
      '/v1/hub/events',
      {
        config: STREAM_CONFIG,
        sse: 'manual',
        schema: {
          summary: 'Stream every event (SSE): live, or resumed after Last-Event-ID',
          description: STREAM_DESCRIPTION,
          tags: ['events'],
          querystring: StreamQuery,
          response: { 200: STREAM_OK, 400: ErrorBody },
        },
      },
      async (request, reply) => stream(reply, undefined, request.query.last_event_id),
    );

    app.get(
      '/v1/hub/jobs/:job_id/events',
      {
        config: STREAM_CONFIG,
        sse: 'manual',
        schema: {
          summary: "Stream one job's events (SSE), from its first event",
          description: `${STREAM_DESCRIPTION} The stream starts with every stored event of the job (or those after Last-Event-ID), then a progress snapshot if it is running (with the takeover it runs after, if another worker took it over).`,
          tags: ['events'],
          params: JobIdParams,
          querystring: StreamQuery,
          response: { 200: STREAM_OK, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request, reply) => stream(reply, request.params.job_id, request.query.last_event_id),
    );
  };
}

function parseLastEventId(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (!/^[0-9]{1,15}$/.test(value)) {
    throw new Invalid('VALIDATION_FAILED', 'Last-Event-ID must be an event id (a non-negative integer)');
  }
  return Number(value);
}

/**
 * Keeps events in order on the wire, held until `start` (the stream is known to exist: an unknown
 * job is still a JSON 404); a client that stops reading is disconnected, not buffered forever.
 */
function serialSender(reply: FastifyReply): { send: (event: HubEvent) => void; start: () => void } {
  let start = () => {};
  let chain = new Promise<void>((resolve) => {
    start = resolve;
  });
  let unsent = 0;
  const send = (event: HubEvent) => {
    if (!reply.sse.isConnected) return;
    if (++unsent > MAX_UNSENT_EVENTS) {
      reply.sse.close();
      return;
    }
    chain = chain
      .then(() =>
        reply.sse.send({
          ...(event.id === null ? {} : { id: String(event.id) }),
          event: event.type,
          data: event,
        }),
      )
      .catch(() => reply.sse.close())
      .finally(() => {
        unsent--;
      });
  };
  return { send, start };
}
