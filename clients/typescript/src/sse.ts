export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * An incremental text/event-stream parser (WHATWG rules): feed it decoded text in chunks of any
 * size; it returns the events completed by each chunk. Comment lines (":") are skipped.
 */
export class SseParser {
  private buffer = '';
  private eventName = '';
  private data: string[] = [];
  private lastId: string | undefined;
  private hasData = false;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone '\r' at the very end may be the first half of '\r\n': wait for the next chunk.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (!this.hasData) {
        this.eventName = '';
        return null;
      }
      const ev: SseEvent = { event: this.eventName || 'message', data: this.data.join('\n'), id: this.lastId };
      this.eventName = '';
      this.data = [];
      this.hasData = false;
      return ev;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.eventName = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Log tail de-duplication
// ---------------------------------------------------------------------------------------------

/**
 * The lines of a job's log tail (its last N lines) that `printed` does not show yet: the longest
 * head of `tail` found as a contiguous run among the recent printed lines is what was already
 * seen; the rest is new. When nothing overlaps (more than N lines arrived in between) the whole
 * tail is new.
 */
export function unseenLines(printed: readonly string[], tail: readonly string[], window = 2000): string[] {
  const from = Math.max(0, printed.length - window);
  for (let k = Math.min(tail.length, printed.length - from); k > 0; k--) {
    for (let start = printed.length - k; start >= from; start--) {
      let match = true;
      for (let i = 0; i < k; i++) {
        if (printed[start + i] !== tail[i]) {
          match = false;
          break;
        }
      }
      if (match) return tail.slice(k);
    }
  }
  return [...tail];
}

/** The events of one Server-Sent Events body until it ends; leaving the loop early cancels the body. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      yield* parser.push(done ? decoder.decode() : decoder.decode(value, { stream: true }));
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
