// The trading view: market selector, candles, depth and book, recent trades, the 24-hour
// ticker (all live from /ws), and for a signed-in user the order form, open orders
// (cancel, amend), fills and balances (live from the private channels).
//
// What REST served is resynchronised whenever the stream comes (back) live, so nothing
// missed while disconnected stays missing; the book resynchronises from the snapshot
// every new subscription starts with.

import * as api from "./api.js";
import { Book } from "./book.js";
import { CandleChart, DepthChart } from "./charts.js";
import { isDecimal, multiply } from "./decimal.js";
import { byId, clock, el, fillRows, setText } from "./dom.js";
import * as session from "./session.js";

const API = "/api/v1";
const BOOK_ROWS = 12;
const TRADE_ROWS = 40;
const FILL_ROWS = 50;
const MARKET_POLL_MS = 3_000; // halts and resumes have no stream: the list is polled
const TERMINAL = new Set(["FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"]);
const WITH_PRICE = new Set(["LIMIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT"]);
const WITH_STOP = new Set(["STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET"]);
const MARKET_TYPES = new Set(["MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"]);

/** The envelope's details, shortened, as text (e.g. which field a validation error is about). */
export function detailText(error) {
  const details = error?.details;
  if (details === undefined || details === null) return "";
  const text = typeof details === "string" ? details : JSON.stringify(details);
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

export class TradingView {
  constructor(stream, notify) {
    this.stream = stream;
    this.notify = notify;
    this.markets = new Map();
    this.market = null;
    this.interval = "1m";
    this.book = new Book();
    this.trades = new Map();
    this.orders = new Map();
    this.ordersLoading = false;
    this.orderBuffer = [];
    this.fills = new Map();
    this.balances = new Map();
    this.liveCandles = new Map();
    this.amending = null; // the order whose amend row is open
    this.candleChart = new CandleChart(byId("candle-chart"), byId("candle-legend"));
    this.depthChart = new DepthChart(byId("depth-chart"));
    this._wire();
  }

  // -- set-up ---------------------------------------------------------------------------

  _wire() {
    const stream = this.stream;
    stream.on("book_snapshot", (m) => this._onBookSnapshot(m));
    stream.on("book_delta", (m) => this._onBookDelta(m));
    stream.on("trades", (m) => this._onTrades(m));
    stream.on("ticker", (m) => this._onTicker(m));
    stream.on("candles", (m) => this._onCandles(m));
    stream.on("orders", (m) => this._onOrders(m));
    stream.on("fills", (m) => this._onFills(m));
    stream.on("balances", (m) => this._onBalances(m));
    stream.on("status", (state) => {
      // Disconnected: the book is no longer known (it comes back with a new snapshot).
      if (state !== "live" && this.book.ready) {
        this.book.reset();
        this._renderBook();
      }
    });
    stream.on("live", () => this.resync());
    byId("market-select").addEventListener("change", (event) => this.selectMarket(event.target.value));
    byId("interval-select").addEventListener("change", (event) => {
      this.interval = event.target.value;
      this._subscribeMarket();
      this._loadCandles();
    });
    const form = byId("order-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.placeOrder();
    });
    for (const id of ["order-type", "order-size-by", "order-tif"]) {
      byId(id).addEventListener("change", () => this._shapeForm());
    }
    for (const id of ["order-price", "order-quantity"]) {
      byId(id).addEventListener("input", () => this._estimate());
    }
    byId("cancel-all-button").addEventListener("click", () => this.cancelAll());
    this._shapeForm();
    setInterval(() => {
      if (this.stream.state === "live") this.loadMarkets().catch(() => {});
    }, MARKET_POLL_MS);
  }

  async start() {
    await this.loadMarkets();
    const first = this.markets.keys().next();
    if (!first.done) this.selectMarket(first.value);
  }

  /** After (re)connecting: everything kept from REST is fetched again. */
  resync() {
    this.loadMarkets().catch((error) => this.notify(`markets: ${api.describe(error)}`));
    if (this.market !== null) {
      this._loadCandles();
      this._loadTrades();
    }
    if (session.currentToken() !== null) this._loadAccount();
  }

  // -- markets ----------------------------------------------------------------------------

  async loadMarkets() {
    const markets = await api.get(`${API}/markets`);
    const select = byId("market-select");
    const known = [...this.markets.keys()].join();
    this.markets = new Map(markets.map((market) => [market.symbol, market]));
    if (known !== [...this.markets.keys()].join()) {
      select.replaceChildren(...markets.map((m) => el("option", { value: m.symbol }, m.symbol)));
      if (this.market !== null) select.value = this.market;
    }
    this._showStatus();
  }

  selectMarket(symbol) {
    const market = this.markets.get(symbol);
    if (market === undefined) return;
    this.market = symbol;
    byId("market-select").value = symbol;
    this.book.reset();
    this.trades.clear();
    this._renderBook();
    this._renderTrades();
    this._clearTicker();
    this.candleChart.setMarket(market);
    this._showStatus();
    this._subscribeMarket();
    this._loadCandles();
    this._loadTrades();
    byId("order-market").textContent = symbol;
  }

  _subscribeMarket() {
    const m = this.market;
    this.book.reset();
    this.stream.setGroup("market", [`book:${m}`, `trades:${m}`, `ticker:${m}`, `candles:${m}:${this.interval}`]);
  }

  _showStatus() {
    const market = this.markets.get(this.market);
    const badge = byId("market-status");
    const status = market?.status ?? "";
    setText(badge, status === "CANCEL_ONLY" ? "CANCEL ONLY" : status);
    badge.dataset.status = status;
    const trading = status === "TRADING";
    const submit = byId("order-submit");
    submit.disabled = !trading || !session.isTrader();
    setText(
      byId("order-market-note"),
      status === "HALT"
        ? "This market is halted: no orders, amends or cancels."
        : status === "CANCEL_ONLY"
          ? "This market takes cancels only."
          : "",
    );
  }

  // -- candles, trades, ticker ------------------------------------------------------------------

  async _loadCandles() {
    const symbol = this.market;
    const interval = this.interval;
    this.liveCandles.clear();
    try {
      const candles = await api.get(`${API}/markets/${encodeURIComponent(symbol)}/candles`, {
        query: { interval, limit: 300 },
      });
      if (symbol !== this.market || interval !== this.interval) return;
      this.candleChart.setHistory(candles);
      // Live candles that arrived while REST answered, if newer than what it returned.
      const last = candles.length ? candles[candles.length - 1] : null;
      for (const candle of [...this.liveCandles.values()].sort((a, b) => a.open_time - b.open_time)) {
        if (last === null || candle.open_time > last.open_time || candle.trades > last.trades) {
          this.candleChart.update(candle);
        }
      }
    } catch (error) {
      this.notify(`candles: ${api.describe(error)}`);
    }
  }

  _onCandles(message) {
    if (message.market !== this.market || message.interval !== this.interval) return;
    for (const candle of message.candles) {
      this.liveCandles.set(candle.open_time, candle);
      this.candleChart.update(candle);
    }
  }

  async _loadTrades() {
    const symbol = this.market;
    try {
      const page = await api.get(`${API}/markets/${encodeURIComponent(symbol)}/trades`, {
        query: { limit: TRADE_ROWS },
      });
      if (symbol !== this.market) return;
      for (const trade of page.trades) this.trades.set(trade.trade_id, trade);
      this._renderTrades();
    } catch (error) {
      this.notify(`trades: ${api.describe(error)}`);
    }
  }

  _onTrades(message) {
    if (message.market !== this.market) return;
    for (const trade of message.trades) this.trades.set(trade.trade_id, trade);
    this._renderTrades();
  }

  _renderTrades() {
    const newest = [...this.trades.values()].sort((a, b) => b.trade_id - a.trade_id).slice(0, TRADE_ROWS);
    this.trades = new Map(newest.map((trade) => [trade.trade_id, trade]));
    const rows = newest.map((trade) =>
      el(
        "tr",
        { dataset: { tradeId: trade.trade_id } },
        el("td", { class: trade.taker_side === "BUY" ? "num up" : "num down" }, trade.price),
        el("td", { class: "num" }, trade.quantity),
        el("td", { class: "muted" }, clock(trade.time)),
      ),
    );
    fillRows(byId("trades-body"), rows, "no trades yet", 3);
  }

  _onTicker(message) {
    if (message.market !== this.market) return;
    const t = message.ticker;
    setText(byId("ticker-last"), t.last ?? "—");
    const change = byId("ticker-change");
    setText(change, t.change === null ? "—" : `${t.change} (${t.change_percent}%)`);
    change.className = t.change === null ? "" : t.change.startsWith("-") ? "down" : "up";
    setText(byId("ticker-high"), t.high ?? "—");
    setText(byId("ticker-low"), t.low ?? "—");
    setText(byId("ticker-volume"), t.volume);
    setText(byId("ticker-quote-volume"), t.quote_volume);
    setText(byId("ticker-trades"), t.trades);
  }

  _clearTicker() {
    for (const id of ["ticker-last", "ticker-change", "ticker-high", "ticker-low", "ticker-volume",
                      "ticker-quote-volume", "ticker-trades"]) {
      setText(byId(id), "—");
    }
  }

  // -- the book ----------------------------------------------------------------------------

  _onBookSnapshot(message) {
    if (message.market !== this.market) return;
    this.book.snapshot(message);
    this._renderBook();
  }

  _onBookDelta(message) {
    if (message.market !== this.market) return;
    const outcome = this.book.delta(message);
    if (outcome === "gap") {
      // A delta went missing: start over from a fresh snapshot.
      this.stream.resubscribe([`book:${this.market}`]);
    }
    if (outcome !== "ignored") this._renderBook();
  }

  _renderBook() {
    const asks = this.book.levels("asks", BOOK_ROWS);
    const bids = this.book.levels("bids", BOOK_ROWS);
    const row = (side) => ([price, quantity, total]) =>
      el(
        "tr",
        { class: side, dataset: { price } },
        el("td", { class: side === "ask" ? "num down" : "num up" }, price),
        el("td", { class: "num" }, quantity),
        el("td", { class: "num muted" }, total),
      );
    fillRows(byId("book-asks"), asks.reverse().map(row("ask")), this.book.ready ? "no asks" : "…", 3);
    fillRows(byId("book-bids"), bids.map(row("bid")), this.book.ready ? "no bids" : "…", 3);
    const bestAsk = this.book.levels("asks", 1)[0];
    const bestBid = this.book.levels("bids", 1)[0];
    setText(
      byId("book-spread"),
      bestAsk && bestBid ? `bid ${bestBid[0]} · ask ${bestAsk[0]}` : this.book.ready ? "one-sided book" : "loading…",
    );
    byId("book").dataset.seq = this.book.seq === null ? "" : String(this.book.seq);
    this.depthChart.set(this.book.levels("bids", 200), this.book.levels("asks", 200));
  }

  // -- signing in and out -------------------------------------------------------------------

  signedIn() {
    byId("trade-signed-out").hidden = true;
    byId("order-form").hidden = !session.isTrader();
    byId("account-panel").hidden = false;
    this.stream.setGroup("private", ["orders", "fills", "balances"]);
    this._showStatus();
  }

  signedOut() {
    byId("trade-signed-out").hidden = false;
    byId("order-form").hidden = true;
    byId("account-panel").hidden = true;
    this.stream.setGroup("private", []);
    this.orders.clear();
    this.fills.clear();
    this.balances.clear();
    this._renderOrders();
    this._renderFills();
    this._renderBalances();
  }

  _token() {
    return session.currentToken();
  }

  async _loadAccount() {
    this.ordersLoading = true;
    this.orderBuffer = [];
    try {
      const [open, fills] = await Promise.all([
        api.get(`${API}/orders`, { token: this._token(), query: { status: "open", limit: 1000 } }),
        api.get(`${API}/fills`, { token: this._token(), query: { limit: FILL_ROWS } }),
      ]);
      this.orders = new Map(open.orders.map((order) => [order.order_id, { ...order }]));
      for (const update of this.orderBuffer) this._applyOrderUpdate(update);
      for (const fill of fills.fills) this.fills.set(`${fill.trade_id}:${fill.order_id}`, fill);
    } catch (error) {
      this.notify(`account: ${api.describe(error)}`);
    } finally {
      this.ordersLoading = false;
      this.orderBuffer = [];
    }
    this._renderOrders();
    this._renderFills();
  }

  // -- orders -----------------------------------------------------------------------------

  _onOrders(message) {
    for (const update of message.updates) {
      if (this.ordersLoading) this.orderBuffer.push(update);
      else this._applyOrderUpdate(update);
    }
    this._renderOrders();
  }

  _applyOrderUpdate(update) {
    const held = this.orders.get(update.order_id);
    if (TERMINAL.has(update.status)) {
      this.orders.delete(update.order_id);
      return;
    }
    if (held === undefined) {
      if (update.event !== "NEW") return; // older than the last REST load, or it will come with the next
      this.orders.set(update.order_id, {
        order_id: update.order_id,
        client_order_id: update.client_order_id ?? null,
        market: update.market,
        side: update.side,
        type: update.type,
        time_in_force: update.time_in_force,
        price: update.price ?? null,
        stop_price: update.stop_price ?? null,
        quantity: update.quantity ?? null,
        quote_quantity: update.quote_quantity ?? null,
        executed_quantity: update.executed_quantity,
        status: update.status,
        created_at: update.time,
        updated_at: update.time,
      });
      return;
    }
    if (update.time < held.updated_at) return;
    held.status = update.status;
    held.executed_quantity = update.executed_quantity;
    held.updated_at = update.time;
    if (update.event === "AMENDED") {
      if (update.price !== undefined) held.price = update.price;
      if (update.quantity !== undefined) held.quantity = update.quantity;
    }
  }

  _renderOrders() {
    const orders = [...this.orders.values()].sort((a, b) => b.order_id - a.order_id);
    const rows = [];
    for (const order of orders) {
      const size = order.quantity ?? `${order.quote_quantity} (amount)`;
      rows.push(
        el(
          "tr",
          { dataset: { orderId: order.order_id, clientOrderId: order.client_order_id ?? "" } },
          el("td", { class: "muted" }, clock(order.created_at)),
          el("td", {}, order.market),
          el("td", { class: order.side === "BUY" ? "up" : "down" }, order.side),
          el("td", {}, order.type),
          el("td", { class: "num" }, order.price ?? "market"),
          el("td", { class: "num" }, order.stop_price ?? ""),
          el("td", { class: "num" }, size),
          el("td", { class: "num" }, order.executed_quantity),
          el("td", { class: "status" }, order.status),
          el("td", { class: "coid" }, order.client_order_id ?? ""),
          el(
            "td",
            { class: "actions" },
            el("button", { type: "button", class: "small amend", onclick: () => this._toggleAmend(order) }, "Amend"),
            el("button", { type: "button", class: "small danger cancel", onclick: () => this.cancel(order) }, "Cancel"),
          ),
        ),
      );
      if (this.amending === order.order_id) rows.push(this._amendRow(order));
    }
    fillRows(byId("open-orders-body"), rows, "no open orders", 11);
    setText(byId("open-orders-count"), orders.length ? `(${orders.length})` : "");
  }

  _toggleAmend(order) {
    this.amending = this.amending === order.order_id ? null : order.order_id;
    this._renderOrders();
  }

  _amendRow(order) {
    const price = el("input", { class: "amend-price", value: order.price ?? "", placeholder: "price", size: 10 });
    const quantity = el("input", { class: "amend-quantity", value: order.quantity ?? "", placeholder: "quantity", size: 10 });
    const result = el("span", { class: "result" });
    const save = async () => {
      const body = {};
      if (price.value.trim() && price.value.trim() !== order.price) body.price = price.value.trim();
      if (quantity.value.trim() && quantity.value.trim() !== order.quantity) body.quantity = quantity.value.trim();
      for (const [field, value] of Object.entries(body)) {
        if (!isDecimal(value)) {
          setText(result, `${field} must be a decimal number`);
          return;
        }
      }
      if (Object.keys(body).length === 0) {
        setText(result, "nothing to change");
        return;
      }
      try {
        const view = await api.patch(`${API}/orders/${order.order_id}`, { token: this._token(), body });
        this.amending = null;
        this._merge(view);
        this._renderOrders();
        this._result(`Amended order ${view.order_id}: ${view.price ?? ""} × ${view.quantity ?? ""}`, false);
      } catch (error) {
        setText(result, api.describe(error));
      }
    };
    return el(
      "tr",
      { class: "amend-row", dataset: { orderId: order.order_id } },
      el(
        "td",
        { colSpan: 11 },
        "New price ",
        price,
        " quantity ",
        quantity,
        " ",
        el("button", { type: "button", class: "small amend-save", onclick: save }, "Save"),
        " ",
        result,
      ),
    );
  }

  _merge(view) {
    if (TERMINAL.has(view.status)) this.orders.delete(view.order_id);
    else this.orders.set(view.order_id, { ...(this.orders.get(view.order_id) ?? {}), ...view });
  }

  async cancel(order) {
    try {
      const view = await api.del(`${API}/orders/${order.order_id}`, { token: this._token() });
      this._merge(view);
      this._renderOrders();
      this._result(`Cancelled order ${view.order_id}`, false);
    } catch (error) {
      this._result(`Cancel refused: ${api.describe(error)}`, true);
    }
  }

  async cancelAll() {
    try {
      const done = await api.del(`${API}/orders`, { token: this._token() });
      for (const id of done.cancelled) this.orders.delete(id);
      this._renderOrders();
      this._result(`Cancelled ${done.cancelled.length} order(s)`, false);
    } catch (error) {
      this._result(`Cancel all refused: ${api.describe(error)}`, true);
    }
  }

  // -- the order form ------------------------------------------------------------------------

  _shapeForm() {
    const type = byId("order-type").value;
    const byAmount = MARKET_TYPES.has(type) && byId("order-size-by").value === "amount";
    byId("field-price").hidden = !WITH_PRICE.has(type);
    byId("field-stop-price").hidden = !WITH_STOP.has(type);
    byId("field-size-by").hidden = !MARKET_TYPES.has(type);
    byId("field-quantity").hidden = byAmount;
    byId("field-quote-quantity").hidden = !byAmount;
    byId("field-tif").hidden = !WITH_PRICE.has(type);
    const postOnly = type === "LIMIT" && byId("order-tif").value === "GTC";
    byId("field-post-only").hidden = !postOnly;
    if (!postOnly) byId("order-post-only").checked = false;
    this._estimate();
  }

  _estimate() {
    const type = byId("order-type").value;
    const price = byId("order-price").value.trim();
    const quantity = byId("order-quantity").value.trim();
    const shown = WITH_PRICE.has(type) && isDecimal(price) && isDecimal(quantity);
    setText(byId("order-total"), shown ? `≈ ${multiply(price, quantity)}` : "");
  }

  _orderBody() {
    const type = byId("order-type").value;
    const body = { market: this.market, side: byId("order-side").value, type };
    const byAmount = MARKET_TYPES.has(type) && byId("order-size-by").value === "amount";
    const fields = [];
    if (WITH_PRICE.has(type)) fields.push(["price", "order-price"]);
    if (WITH_STOP.has(type)) fields.push(["stop_price", "order-stop-price"]);
    fields.push(byAmount ? ["quote_quantity", "order-quote-quantity"] : ["quantity", "order-quantity"]);
    for (const [name, id] of fields) {
      const value = byId(id).value.trim();
      if (!isDecimal(value)) throw new Error(`${name.replace("_", " ")} must be a decimal number such as 0.5`);
      body[name] = value;
    }
    if (WITH_PRICE.has(type)) body.time_in_force = byId("order-tif").value;
    if (byId("order-post-only").checked) body.post_only = true;
    const clientOrderId = byId("order-client-id").value;
    if (clientOrderId !== "") body.client_order_id = clientOrderId;
    return body;
  }

  async placeOrder() {
    let body;
    try {
      body = this._orderBody();
    } catch (error) {
      this._result(error.message, true);
      return;
    }
    const named = body.client_order_id === undefined ? "" : ` (client order id ${body.client_order_id})`;
    try {
      const view = await api.post(`${API}/orders`, { token: this._token(), body });
      this._merge(view);
      this._renderOrders();
      this._result(`Order ${view.order_id}${named}: ${view.status}`, false);
      byId("order-client-id").value = "";
    } catch (error) {
      const details = detailText(error);
      this._result(`Order refused${named}: ${api.describe(error)}${details ? ` — ${details}` : ""}`, true);
    }
  }

  _result(text, failed) {
    const line = byId("order-result");
    setText(line, text);
    line.className = failed ? "result error" : "result ok";
  }

  // -- fills and balances -------------------------------------------------------------------------

  _onFills(message) {
    for (const fill of message.fills) this.fills.set(`${fill.trade_id}:${fill.order_id}`, fill);
    this._renderFills();
  }

  _renderFills() {
    const fills = [...this.fills.values()].sort((a, b) => b.time - a.time || b.trade_id - a.trade_id);
    const kept = fills.slice(0, FILL_ROWS);
    this.fills = new Map(kept.map((fill) => [`${fill.trade_id}:${fill.order_id}`, fill]));
    const rows = kept.map((fill) =>
      el(
        "tr",
        { dataset: { tradeId: fill.trade_id, orderId: fill.order_id } },
        el("td", { class: "muted" }, clock(fill.time)),
        el("td", {}, fill.market),
        el("td", { class: fill.side === "BUY" ? "up" : "down" }, fill.side),
        el("td", { class: "num" }, fill.price),
        el("td", { class: "num" }, fill.quantity),
        el("td", { class: "num" }, `${fill.fee} ${fill.fee_asset}`),
        el("td", {}, fill.role),
      ),
    );
    fillRows(byId("fills-body"), rows, "no fills yet", 7);
  }

  _onBalances(message) {
    for (const balance of message.balances) this.balances.set(balance.asset, balance);
    this._renderBalances();
  }

  _renderBalances() {
    const balances = [...this.balances.values()].sort((a, b) => (a.asset < b.asset ? -1 : 1));
    const rows = balances.map((balance) =>
      el(
        "tr",
        { dataset: { asset: balance.asset }, title: `total ${balance.total}` },
        el("td", {}, balance.asset),
        el("td", { class: "num available" }, balance.available),
        el("td", { class: "num locked" }, balance.locked),
      ),
    );
    const empty = session.currentToken() === null ? "sign in to see balances" : "no balances";
    fillRows(byId("balances-body"), rows, empty, 3);
  }
}
