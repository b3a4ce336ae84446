// Subscriptions over one WebSocket at /graphql, subprotocol graphql-transport-ws:
// connection_init with the tab's token → connection_ack, then subscribe / next /
// error / complete per operation id, ping answered by pong. A socket that closes
// is opened again after a backoff and every operation still wanted is sent again.

import { ENDPOINT, token } from "./api.js";

const SUBPROTOCOL = "graphql-transport-ws";
// The server's bound of operations on one socket; one more is refused with an error.
export const MAX_OPERATIONS = 100;
// The server closes with this when connection_init's token is refused: trying again
// with the same token would be refused the same way.
const FORBIDDEN = 4403;
const FIRST_DELAY = 500;
const MOST_DELAY = 15000;
// The server pings an idle socket well within this: silence this long is a
// connection that died without closing (a laptop's sleep, a NAT's timeout).
const SILENCE = 90000;

function socketUrl() {
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export class SubscriptionSocket {
  // onAck: after each connection_ack (the operations are sent again just before);
  // onStatus(kind, text); onForbidden: the token was refused (close 4403).
  constructor({ onAck, onStatus, onForbidden }) {
    this.handlers = { onAck, onStatus, onForbidden };
    this.operations = new Map();
    this.socket = null;
    this.acked = false;
    this.failures = 0;
    this.retry = null;
    this.silence = null;
    this.running = false;
  }

  start() {
    if (this.running) return this;
    this.running = true;
    this.connect();
    return this;
  }

  stop() {
    this.running = false;
    clearTimeout(this.retry);
    clearTimeout(this.silence);
    this.operations.clear();
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(1000, "done");
  }

  // `sink` has next(payload), error(errors) and complete(); an id is one operation.
  subscribe(id, query, variables, sink) {
    this.operations.set(id, { query, variables, sink });
    if (this.acked) this.send({ id, type: "subscribe", payload: { query, variables } });
  }

  unsubscribe(id) {
    if (this.operations.delete(id) && this.acked) this.send({ id, type: "complete" });
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  connect() {
    const socket = new WebSocket(socketUrl(), SUBPROTOCOL);
    this.socket = socket;
    this.acked = false;
    this.heard();
    socket.addEventListener("open", () => {
      const secret = token();
      this.send({ type: "connection_init", payload: secret ? { Authorization: `Bearer ${secret}` } : {} });
    });
    socket.addEventListener("message", (message) => {
      if (socket === this.socket) this.received(message.data);
    });
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  heard() {
    clearTimeout(this.silence);
    const socket = this.socket;
    this.silence = setTimeout(() => {
      // A dead connection may take long to report its close: it is let go now.
      socket.close(4408, "silent");
      this.closed(socket, 1006);
    }, SILENCE);
  }

  received(text) {
    this.heard();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const operation = this.operations.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.failures = 0;
        for (const [id, { query, variables }] of this.operations) {
          this.send({ id, type: "subscribe", payload: { query, variables } });
        }
        this.handlers.onStatus("live", "live");
        this.handlers.onAck();
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        operation?.sink.next(message.payload);
        break;
      case "error":
        this.operations.delete(message.id);
        operation?.sink.error(message.payload);
        break;
      case "complete":
        this.operations.delete(message.id);
        operation?.sink.complete();
        break;
      default:
        break;
    }
  }

  closed(socket, code) {
    if (socket !== this.socket || !this.running) return;
    clearTimeout(this.silence);
    this.socket = null;
    this.acked = false;
    if (code === FORBIDDEN) {
      this.stop();
      this.handlers.onForbidden();
      return;
    }
    this.failures += 1;
    const delay = Math.min(MOST_DELAY, FIRST_DELAY * 2 ** (this.failures - 1)) * (0.5 + Math.random() / 2);
    this.handlers.onStatus("reconnecting", `closed (${code}); reconnecting in ${Math.ceil(delay / 1000)} s`);
    this.retry = setTimeout(() => {
      if (this.running) this.connect();
    }, delay);
  }
}
