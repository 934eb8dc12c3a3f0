// One market's order book, kept from the `book:<market>` channel: a snapshot, then
// deltas whose `seq` must follow on without a gap. A delta carries each changed level's
// new total quantity ("0": the level is gone). On a gap the book is dropped and the
// caller resubscribes for a fresh snapshot; deltas before that snapshot are ignored.

import { add, compare, isZero } from "./decimal.js";

export class Book {
  constructor() {
    this.reset();
  }

  reset() {
    this.bids = new Map();
    this.asks = new Map();
    this.seq = null;
    this.ready = false;
  }

  snapshot(message) {
    this.reset();
    this._apply(this.bids, message.bids);
    this._apply(this.asks, message.asks);
    this.seq = message.seq;
    this.ready = true;
  }

  /** "applied", "ignored" (no snapshot yet) or "gap" (the book was dropped). */
  delta(message) {
    if (!this.ready) return "ignored";
    if (message.seq !== this.seq + 1) {
      this.reset();
      return "gap";
    }
    this._apply(this.bids, message.bids);
    this._apply(this.asks, message.asks);
    this.seq = message.seq;
    return "applied";
  }

  _apply(side, levels) {
    for (const [price, quantity] of levels) {
      if (isZero(quantity)) side.delete(price);
      else side.set(price, quantity);
    }
  }

  /** [[price, quantity, cumulative quantity], ...] best first. */
  levels(sideName, limit = Infinity) {
    const side = sideName === "bids" ? this.bids : this.asks;
    const direction = sideName === "bids" ? -1 : 1;
    const prices = [...side.keys()].sort((a, b) => direction * compare(a, b)).slice(0, limit);
    let total = "0";
    return prices.map((price) => {
      total = add(total, side.get(price));
      return [price, side.get(price), total];
    });
  }
}
