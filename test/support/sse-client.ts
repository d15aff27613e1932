/** One Server-Sent Events message as it came over the wire. */
export interface SseMessage {
  id: string | undefined;
  event: string | undefined;
  data: any;
}

export interface SseCapture {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  comments: string[];
  /** Raw error body when the server answered with something other than a stream. */
  body: any;
}

/**
 * Reads an SSE stream with plain fetch and a literal parse of the wire format (so the test sees the
 * exact `id:`/`event:`/`data:` lines), until `done` says so or the deadline passes.
 */
export async function readEvents(
  url: string,
  options: {
    headers?: Record<string, string>;
    done: (capture: SseCapture) => boolean;
    timeoutMs?: number;
    onOpen?: () => void | Promise<void>;
  },
): Promise<SseCapture> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? 20_000);
  try {
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...options.headers },
      signal: abort.signal,
    });
    const capture: SseCapture = {
      status: response.status,
      headers: response.headers,
      messages: [],
      comments: [],
      body: undefined,
    };
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      capture.body = await response.json();
      return capture;
    }
    await options.onOpen?.();
    if (!response.body) throw new Error(`SSE stream ${url}: no body`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    while (!options.done(capture)) {
      const { value, done } = await reader.read().catch((error: unknown) => {
        if (abort.signal.aborted) {
          throw new Error(
            `SSE stream ${url}: deadline passed with ${JSON.stringify(capture.messages.map((m) => m.event))}`,
          );
        }
        throw error;
      });
      if (done) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        parseBlock(buffer.slice(0, end), capture);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
    return capture;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

function parseBlock(block: string, capture: SseCapture): void {
  const message: SseMessage = { id: undefined, event: undefined, data: undefined };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      capture.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') message.id = value;
    else if (field === 'event') message.event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return;
  message.data = JSON.parse(data.join('\n'));
  capture.messages.push(message);
}
