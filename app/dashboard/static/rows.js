// Every listed pool's row live: one subscription per pool on one WebSocket, each
// event only a sign that the pools page should be read again (the chosen pool has
// its own stream over SSE, which carries the events themselves).

import { MAX_OPERATIONS, SubscriptionSocket } from "./ws.js";

const ROW_CHANGES = `subscription DashboardRow($p: String!) { poolEvents(pool: $p) { seq } }`;

export class PoolRows {
  // onChange(pool): an event of that pool; onReconnected: a new connection, after
  // which the list is read again (a pool created meanwhile is in no journal followed).
  constructor({ onChange, onReconnected, onStatus, onForbidden }) {
    this.handlers = { onChange, onReconnected, onStatus };
    // Pools the server refused (its limit of subscriptions per principal or worker):
    // asked again only on a new connection.
    this.refused = new Set();
    this.wanted = [];
    // Each subscription's own id: one ended and one started again for the same pool
    // never share an id the server may still hold (it would close the socket, 4409).
    this.ids = new Map();
    this.made = 0;
    this.socket = new SubscriptionSocket({
      onAck: () => {
        this.refused.clear();
        this.handlers.onReconnected();
      },
      onStatus,
      onForbidden,
    });
  }

  // The pools listed, in order: the first MAX_OPERATIONS are followed; the names it
  // cannot follow are returned (their rows change on a read of the list only).
  follow(names) {
    this.wanted = names.slice(0, MAX_OPERATIONS);
    const wanted = new Set(this.wanted);
    for (const [name, id] of [...this.ids]) {
      if (!wanted.has(name)) this.end(name, id);
    }
    for (const name of this.wanted) {
      if (!this.ids.has(name) && !this.refused.has(name)) this.subscribe(name);
    }
    this.socket.start();
    return names.slice(MAX_OPERATIONS).concat([...this.refused]);
  }

  subscribe(name) {
    this.made += 1;
    // The pool's name in it too, for whoever reads the socket's frames.
    const id = `${this.made}:${name}`;
    this.ids.set(name, id);
    // Ended (a restart, the store away): the next read of the list follows it again.
    const ended = () => {
      if (this.ids.get(name) === id) this.ids.delete(name);
      this.handlers.onChange(name);
    };
    this.socket.subscribe(id, ROW_CHANGES, { p: name }, {
      next: () => this.handlers.onChange(name),
      error: (errors) => {
        if (errors?.[0]?.extensions?.code === "TOO_MANY_SUBSCRIPTIONS") this.refused.add(name);
        ended();
      },
      complete: ended,
    });
  }

  end(name, id) {
    this.ids.delete(name);
    this.socket.unsubscribe(id);
  }

  stop() {
    this.socket.stop();
    this.ids.clear();
    this.wanted = [];
  }
}
