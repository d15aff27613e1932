import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a receiver does with a POST: answer with this status, or hold the connection open and never answer. */
export type ReceiverAnswer = number | 'hang';

export interface ReceivedPost {
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: any;
  /** Whether X-ModelHub-Signature matched the raw body (undefined when the receiver has no secret). */
  signatureValid: boolean | undefined;
  /** `Date.now()` when the body had arrived. */
  receivedAt: number;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  /** Every POST, in arrival order (hung ones included). */
  received: ReceivedPost[];
  close(): Promise<void>;
}

/**
 * A webhook endpoint for tests: a real HTTP server on 127.0.0.1 that verifies each POST's signature
 * against the raw bytes it read, independently of the hub's code, the way the README tells users to.
 */
export async function startWebhookReceiver(
  options: {
    secret?: string;
    port?: number;
    /** Decides each answer; `index` counts POSTs from 0. Default 204. */
    answer?: (post: ReceivedPost, index: number) => ReceiverAnswer;
  } = {},
): Promise<WebhookReceiver> {
  const received: ReceivedPost[] = [];
  const hung: ServerResponse[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const post: ReceivedPost = {
        headers: request.headers,
        rawBody: raw.toString('utf8'),
        body: JSON.parse(raw.toString('utf8')),
        signatureValid:
          options.secret === undefined
            ? undefined
            : signatureMatches(raw, options.secret, request.headers['x-modelhub-signature']),
        receivedAt: Date.now(),
      };
      const index = received.push(post) - 1;
      const answer = options.answer?.(post, index) ?? 204;
      if (answer === 'hang') hung.push(response);
      else response.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    async close() {
      for (const response of hung) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function signatureMatches(raw: Buffer, secret: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
