// The WebSocket connection (/ws): reconnects by itself, re-authenticates by message and
// resubscribes everything, so the page survives a server restart without a reload.
//
// Channels are held in named groups (the market's channels, the user's private ones);
// each group is one subscribe request, which the server takes all or nothing. After a
// reconnect the "live" event tells the views to resynchronise what they keep from REST
// (the book resynchronises itself: a fresh subscription starts with a snapshot).

const ANSWERS = new Set(["subscribed", "unsubscribed", "authenticated", "pong"]);
const PING_MS = 20_000; // the server closes a connection silent for 60 s
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export class Stream {
  constructor(url) {
    this.url = url;
    this.token = null;
    this.groups = new Map(); // name -> channels
    this.handlers = new Map(); // message type or event -> [fn]
    this.pending = new Map(); // request id -> {resolve, reject}
    this.nextId = 1;
    this.socket = null;
    this.state = "connecting";
    this.retryMs = 0;
    this.retryTimer = null;
    this.pingTimer = null;
  }

  /** fn(message) for a server message type ("book_delta", "trades"...), or fn(detail)
   * for an event: "status" (connecting/live/reconnecting), "live", "authenticated",
   * "auth-error", "notice" (an error the server sent on its own), "subscribe-error". */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
  }

  start() {
    this._connect();
  }

  /** Sign in (a token) or out (null): a connection belongs to one user, so a new one. */
  setToken(token) {
    this.token = token;
    this._reconnectNow();
  }

  /** Replace a group's channels (subscribing the new ones, unsubscribing the others). */
  setGroup(name, channels) {
    const before = this.groups.get(name) ?? [];
    this.groups.set(name, channels);
    if (this.state !== "live") return;
    const removed = before.filter((channel) => !channels.includes(channel));
    if (removed.length) this._send({ op: "unsubscribe", channels: removed }).catch(() => {});
    if (channels.length) this._subscribe(name, channels);
  }

  /** Subscribe again to channels held (a book after a gap: a new snapshot comes). */
  resubscribe(channels) {
    if (this.state === "live") this._subscribe("resync", channels);
  }

  _emit(type, detail) {
    for (const fn of this.handlers.get(type) ?? []) {
      try {
        fn(detail);
      } catch (error) {
        console.error(`handler for ${type} failed`, error);
      }
    }
  }

  _status(state) {
    this.state = state;
    this._emit("status", state);
  }

  _connect() {
    clearTimeout(this.retryTimer);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this._status(this.retryMs ? "reconnecting" : "connecting");
    socket.onopen = () => this._opened(socket);
    socket.onmessage = (event) => this._received(socket, event);
    socket.onclose = (event) => this._closed(socket, event);
  }

  _reconnectNow() {
    const old = this.socket;
    this.socket = null;
    if (old !== null) old.close(1000);
    this._failPending("reconnecting");
    clearInterval(this.pingTimer);
    this.retryMs = 0;
    this._connect();
  }

  async _opened(socket) {
    if (this.token !== null) {
      try {
        const answer = await this._send({ op: "authenticate", token: this.token }, socket);
        this._emit("authenticated", answer.user_id);
      } catch (error) {
        if (socket !== this.socket) return;
        this._emit("auth-error", error);
      }
    }
    if (socket !== this.socket) return;
    for (const [name, channels] of this.groups) {
      if (channels.length) this._subscribe(name, channels, socket);
    }
    this.retryMs = 0;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this._send({ op: "ping" }, socket).catch(() => {}), PING_MS);
    this._status("live");
    this._emit("live");
  }

  _subscribe(name, channels, socket = this.socket) {
    this._send({ op: "subscribe", channels }, socket).catch((error) => {
      if (socket === this.socket) this._emit("subscribe-error", { group: name, channels, error });
    });
  }

  _send(message, socket = this.socket) {
    return new Promise((resolve, reject) => {
      if (socket === null || socket.readyState !== WebSocket.OPEN) {
        reject(new Error("not connected"));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ ...message, id }));
    });
  }

  _received(socket, event) {
    if (socket !== this.socket) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) this._dispatch(item);
  }

  _dispatch(message) {
    const waiting = message.id !== undefined && message.id !== null ? this.pending.get(message.id) : undefined;
    if (waiting !== undefined && (ANSWERS.has(message.type) || message.type === "error")) {
      this.pending.delete(message.id);
      if (message.type === "error") {
        const error = new Error(message.error.message);
        error.code = message.error.code;
        error.details = message.error.details;
        waiting.reject(error);
      } else {
        waiting.resolve(message);
      }
      return;
    }
    if (message.type === "error") {
      this._emit("notice", message.error);
      return;
    }
    this._emit(message.type, message);
  }

  _failPending(reason) {
    for (const { reject } of this.pending.values()) reject(new Error(reason));
    this.pending.clear();
  }

  _closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    clearInterval(this.pingTimer);
    this._failPending("connection closed");
    if (event.code === 4002) this._emit("token-expired");
    // Back off: 250 ms, doubling up to 5 s, with jitter so that many pages do not
    // come back at the same instant after a restart.
    this.retryMs = Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, this.retryMs * 2));
    this._status("reconnecting");
    this.retryTimer = setTimeout(() => this._connect(), this.retryMs * (0.75 + Math.random() / 2));
  }
}
