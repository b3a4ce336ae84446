// The poolEvents subscription over GraphQL-over-SSE (distinct connections mode).
// EventSource cannot POST, so the stream is read with fetch() and parsed here.

import { AuthError, ENDPOINT, SUBSCRIPTION, authHeaders, noteServerDate, refusal, token } from "./api.js";

// Parses a text/event-stream body into {event, data} messages; `onBytes` hears
// every chunk, keepalive comments included (they prove the connection lives).
export async function* messages(body, onBytes) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buffer += value;
      for (;;) {
        const end = buffer.search(/[\r\n]/);
        // A lone CR at the end may be half of a CRLF: wait for the next chunk.
        if (end < 0 || (buffer[end] === "\r" && end === buffer.length - 1)) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer[end] === "\r" && buffer[end + 1] === "\n" ? end + 2 : end + 1);
        if (line === "") {
          if (event || data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

const FIRST_DELAY = 500;
const MOST_DELAY = 15000;
// The server sends keepalives well within this while nothing happens: silence this
// long is a connection that died without closing (a laptop's sleep, a NAT's timeout).
const SILENCE = 90000;

class Retry extends Error {}

function pause(milliseconds, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// One pool's events from `after` on, for as long as it is not stopped: every
// dropped connection is opened again with the last seq seen, after a backoff,
// so the events it delivers have no gap and no repeat.
export class PoolWatch {
  constructor(pool, after, { onEvent, onStatus, onTrimmed, onUnauthenticated }) {
    this.pool = pool;
    this.after = after;
    this.handlers = { onEvent, onStatus, onTrimmed, onUnauthenticated };
    this.stopped = new AbortController();
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped.abort();
  }

  async run() {
    let failures = 0;
    const { signal } = this.stopped;
    while (!signal.aborted) {
      let reason = "the stream ended";
      try {
        if (await this.stream()) failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof AuthError) {
          this.handlers.onUnauthenticated(error);
          return;
        }
        reason = error.message || String(error);
      }
      if (signal.aborted) return;
      failures += 1;
      const delay = Math.min(MOST_DELAY, FIRST_DELAY * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      this.handlers.onStatus("reconnecting", `${reason}; reconnecting in ${Math.ceil(delay / 1000)} s`);
      await pause(delay, signal);
    }
  }

  // One connection; true when it delivered an event (the next backoff starts over).
  async stream() {
    const connection = new AbortController();
    const stop = () => connection.abort();
    this.stopped.signal.addEventListener("abort", stop);
    let silence = setTimeout(stop, SILENCE);
    const heard = () => {
      clearTimeout(silence);
      silence = setTimeout(stop, SILENCE);
    };
    let delivered = false;
    try {
      const response = await fetch(ENDPOINT, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
        body: JSON.stringify({ query: SUBSCRIPTION, variables: { p: this.pool, a: this.after } }),
        cache: "no-store",
        signal: connection.signal,
      });
      noteServerDate(response);
      if (response.status === 401) throw new AuthError((await refusal(response)).message, token() !== null);
      const type = response.headers.get("Content-Type") ?? "";
      if (!response.ok || !type.startsWith("text/event-stream")) {
        const refused = await refusal(response);
        throw new Retry(`live updates refused (${refused.code}: ${refused.message})`);
      }
      this.handlers.onStatus("live", "live");
      for await (const message of messages(response.body, heard)) {
        if (message.event === "complete") break;
        if (message.event !== "next") continue;
        const payload = JSON.parse(message.data);
        const error = payload.errors?.[0];
        if (error) {
          const code = error.extensions?.code ?? "ERROR";
          if (code === "EVENTS_TRIMMED") {
            // Events were lost to the journal's retention: the page reads the state
            // anew and goes on from the journal's end.
            this.after = await this.handlers.onTrimmed();
            return delivered;
          }
          if (code === "UNAUTHENTICATED") throw new AuthError(error.message, token() !== null);
          throw new Retry(`${code}: ${error.message}`);
        }
        const event = payload.data?.poolEvents;
        // A repeat cannot come from one stream; this guards a server that replays inclusively.
        if (!event || event.seq <= this.after) continue;
        this.after = event.seq;
        delivered = true;
        this.handlers.onEvent(event);
      }
      return delivered;
    } catch (error) {
      if (connection.signal.aborted && !this.stopped.signal.aborted) {
        throw new Retry("the connection went silent");
      }
      throw error;
    } finally {
      clearTimeout(silence);
      this.stopped.signal.removeEventListener("abort", stop);
      connection.abort();
    }
  }
}
