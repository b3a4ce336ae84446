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
    for (const name of [...this.socket.operations.keys()]) {
      if (!wanted.has(name)) this.socket.unsubscribe(name);
    }
    for (const name of this.wanted) {
      if (!this.socket.has(name) && !this.refused.has(name)) this.subscribe(name);
    }
    this.socket.start();
    return names.slice(MAX_OPERATIONS).concat([...this.refused]);
  }

  subscribe(name) {
    this.socket.subscribe(name, ROW_CHANGES, { p: name }, {
      next: () => this.handlers.onChange(name),
      error: (errors) => {
        const code = errors?.[0]?.extensions?.code;
        if (code === "TOO_MANY_SUBSCRIPTIONS") this.refused.add(name);
        // Ended (a restart, the store away): the next read of the list follows it again.
        this.handlers.onChange(name);
      },
      complete: () => this.handlers.onChange(name),
    });
  }

  stop() {
    this.socket.stop();
    this.wanted = [];
  }
}
