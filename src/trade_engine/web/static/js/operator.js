// The operator view (admin role): markets and their status (halt, cancel-only, resume,
// add), deposits and withdrawals, API keys, health and readiness, key metrics, ledger
// verification, and the audit log of admin actions.
//
// Every action that changes something asks for confirmation first (a dialog in the
// page) and is then recorded by the server in the audit log, which this view shows.
// Metrics come as JSON from the admin API; nothing here parses Prometheus text.

import * as api from "./api.js";
import { byId, clock, dateTime, el, fillRows, setText } from "./dom.js";
import * as session from "./session.js";

const API = "/api/v1";
const METRICS_POLL_MS = 2_000;
const LISTS_POLL_MS = 5_000;

/** Ask before acting: resolves true if the operator confirms in the dialog. */
export function confirmAction(title, lines) {
  const dialog = byId("confirm-dialog");
  if (dialog.open) return Promise.resolve(false); // one question at a time
  setText(byId("confirm-title"), title);
  byId("confirm-lines").replaceChildren(...lines.map((line) => el("li", {}, line)));
  return new Promise((resolve) => {
    const ok = byId("confirm-ok");
    const cancel = byId("confirm-cancel");
    const finish = (answer) => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      resolve(answer);
    };
    const onOk = () => finish(true);
    const onCancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel); // Escape
    dialog.showModal();
  });
}

function fmt(value, suffix = "") {
  return value === null || value === undefined ? "—" : `${value}${suffix}`;
}

export class OperatorView {
  constructor(stream, notify) {
    this.stream = stream;
    this.notify = notify;
    this.visible = false;
    this._wire();
  }

  _wire() {
    byId("ops-market-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addMarket();
    });
    byId("ops-transfer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.transfer();
    });
    byId("ops-key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.createKey();
    });
    byId("ops-verify-button").addEventListener("click", () => this.verify());
    this.stream.on("live", () => {
      if (this.visible) this.refresh();
    });
    setInterval(() => this._poll(this.loadMetrics), METRICS_POLL_MS);
    setInterval(() => {
      this._poll(this.loadMarkets);
      this._poll(this.loadAudit);
    }, LISTS_POLL_MS);
  }

  _poll(load) {
    if (this.visible && session.isAdmin() && this.stream.state === "live") {
      load.call(this).catch((error) => this.notify(api.describe(error)));
    }
  }

  show(visible) {
    this.visible = visible;
    if (visible) this.refresh();
  }

  refresh() {
    for (const load of [this.loadMetrics, this.loadMarkets, this.loadTransfers,
                        this.loadKeys, this.loadAudit, this.loadVerification]) {
      load.call(this).catch((error) => this.notify(api.describe(error)));
    }
  }

  _token() {
    return session.currentToken();
  }

  _result(text, failed) {
    const line = byId("ops-result");
    setText(line, text);
    line.className = failed ? "result error" : "result ok";
  }

  /** Confirm, run, report, refresh the audit log. */
  async _act(title, lines, run) {
    if (!(await confirmAction(title, lines))) {
      this._result(`${title}: not done (cancelled)`, true);
      return null;
    }
    try {
      const outcome = await run();
      this._result(`${title}: done`, false);
      return outcome;
    } catch (error) {
      this._result(`${title}: ${api.describe(error)}`, true);
      return null;
    } finally {
      this.loadAudit().catch(() => {});
    }
  }

  // -- health and metrics --------------------------------------------------------------------

  /** Health and readiness, from the admin metrics (the page uses only /api/v1 and /ws):
   * an answer means the process is alive; its `readiness` is what /ready reports. */
  _showHealth(ready) {
    setText(byId("ops-health"), "alive");
    setText(byId("ops-ready"), ready.ready ? "ready" : "not ready");
    byId("ops-ready").dataset.ready = String(ready.ready);
    setText(
      byId("ops-ready-detail"),
      `recovered ${ready.recovered ? "yes" : "no"} · database ${ready.database ? "reachable" : "unreachable"} · ` +
        `orders ${ready.accepting_orders ? "accepted" : "refused"}`,
    );
  }

  async loadMetrics() {
    let m;
    try {
      m = await api.get(`${API}/admin/metrics`, { token: this._token() });
    } catch (error) {
      setText(byId("ops-health"), "not answering");
      throw error;
    }
    this._showHealth(m.readiness);
    setText(byId("ops-orders-rate"), fmt(m.orders_per_second));
    setText(byId("ops-trades-rate"), fmt(m.trades_per_second));
    setText(byId("ops-queue"), fmt(m.queue_depth));
    setText(byId("ops-commit-mean"), fmt(m.commit_latency.mean_ms, " ms"));
    setText(byId("ops-commit-last"), fmt(m.commit_latency.last_ms, " ms"));
    setText(byId("ops-ws-clients"), fmt(m.websocket_clients));
    setText(byId("ops-orders-total"), fmt(m.orders_total));
    setText(byId("ops-trades-total"), fmt(m.trades_total));
    setText(
      byId("ops-window"),
      m.window_seconds === null ? "rates after the next reading" : `rates over the last ${m.window_seconds} s`,
    );
  }

  // -- markets ---------------------------------------------------------------------------------

  async loadMarkets() {
    const markets = await api.get(`${API}/markets`);
    const action = (market, label, path, cls) =>
      el(
        "button",
        {
          type: "button",
          class: `small ${cls}`,
          dataset: { action: path },
          disabled: market.status === { halt: "HALT", "cancel-only": "CANCEL_ONLY", resume: "TRADING" }[path],
          onclick: () => this.setStatus(market.symbol, label, path),
        },
        label,
      );
    const rows = markets.map((market) =>
      el(
        "tr",
        { dataset: { symbol: market.symbol } },
        el("td", {}, market.symbol),
        el("td", { class: "status", dataset: { status: market.status } }, market.status),
        el("td", { class: "num" }, market.tick_size),
        el("td", { class: "num" }, market.step_size),
        el("td", { class: "num" }, market.min_notional),
        el("td", { class: "num" }, `${market.maker_fee} / ${market.taker_fee}`),
        el(
          "td",
          { class: "actions" },
          action(market, "Halt", "halt", "danger"),
          action(market, "Cancel only", "cancel-only", ""),
          action(market, "Resume", "resume", "good"),
        ),
      ),
    );
    fillRows(byId("ops-markets-body"), rows, "no markets", 7);
  }

  async setStatus(symbol, label, path) {
    const effect = {
      halt: "No orders, amends or cancels until it is resumed.",
      "cancel-only": "Only cancels are taken; new orders and amends are refused.",
      resume: "Trading resumes: orders, amends and cancels are taken again.",
    }[path];
    await this._act(`${label} ${symbol}`, [effect], () =>
      api.post(`${API}/admin/markets/${encodeURIComponent(symbol)}/${path}`, { token: this._token() }),
    );
    await this.loadMarkets();
  }

  async addMarket() {
    const form = byId("ops-market-form");
    const body = {};
    for (const input of form.querySelectorAll("input[name]")) {
      if (input.value.trim() !== "") body[input.name] = input.value.trim();
    }
    const lines = Object.entries(body).map(([name, value]) => `${name}: ${value}`);
    const added = await this._act(`Add market ${body.symbol ?? ""}`, lines, () =>
      api.post(`${API}/admin/markets`, { token: this._token(), body }),
    );
    if (added !== null) form.reset();
    await this.loadMarkets();
  }

  // -- deposits and withdrawals -----------------------------------------------------------------

  async loadTransfers() {
    const page = await api.get(`${API}/admin/transfers`, { token: this._token(), query: { limit: 50 } });
    const rows = page.transfers.map((t) =>
      el(
        "tr",
        { dataset: { transferId: t.transfer_id } },
        el("td", { class: "muted", title: dateTime(t.time) }, clock(t.time)),
        el("td", { class: t.kind === "DEPOSIT" ? "up" : "down" }, t.kind),
        el("td", {}, t.user_id),
        el("td", { class: "num" }, `${t.amount} ${t.asset}`),
        el("td", { class: "muted" }, t.reference ?? ""),
      ),
    );
    fillRows(byId("ops-transfers-body"), rows, "no deposits or withdrawals", 5);
    setText(byId("ops-transfers-total"), `${page.total} in all`);
  }

  async transfer() {
    const form = byId("ops-transfer-form");
    const kind = form.elements.kind.value;
    const body = {
      user_id: form.elements.user_id.value.trim(),
      asset: form.elements.asset.value.trim(),
      amount: form.elements.amount.value.trim(),
    };
    const reference = form.elements.reference.value.trim();
    if (reference) body.reference = reference;
    const what = kind === "deposit" ? "Deposit" : "Withdrawal";
    const lines = [`${body.amount} ${body.asset} ${kind === "deposit" ? "to" : "from"} ${body.user_id}`];
    if (reference) lines.push(`reference ${reference}`);
    const done = await this._act(what, lines, () =>
      api.post(`${API}/admin/${kind === "deposit" ? "deposits" : "withdrawals"}`, { token: this._token(), body }),
    );
    if (done !== null) {
      this._result(
        `${what} ${done.transfer_id}${done.replayed ? " (replayed)" : ""}: ${done.user_id} now has ` +
          `${done.balance.available} ${done.asset} available`,
        false,
      );
      form.elements.amount.value = "";
      form.elements.reference.value = "";
    }
    await this.loadTransfers();
  }

  // -- API keys ------------------------------------------------------------------------------------

  async loadKeys() {
    const keys = await api.get(`${API}/admin/api-keys`, { token: this._token() });
    const rows = keys.map((key) =>
      el(
        "tr",
        { dataset: { apiKey: key.api_key } },
        el("td", { class: "mono" }, `${key.api_key.slice(0, 12)}…`),
        el("td", {}, key.user_id),
        el("td", {}, key.permissions.join(", ")),
        el("td", { class: "label" }, key.label),
        el("td", { class: "muted" }, dateTime(key.created_at)),
        el("td", {}, key.revoked_at === null ? "active" : `revoked ${dateTime(key.revoked_at)}`),
        el(
          "td",
          { class: "actions" },
          key.revoked_at === null
            ? el("button", { type: "button", class: "small danger revoke", onclick: () => this.revokeKey(key) }, "Revoke")
            : "",
        ),
      ),
    );
    fillRows(byId("ops-keys-body"), rows, "no API keys", 7);
  }

  async createKey() {
    const form = byId("ops-key-form");
    const permissions = [...form.querySelectorAll("input[name=permission]:checked")].map((box) => box.value);
    const body = { user_id: form.elements.user_id.value.trim(), permissions, label: form.elements.label.value };
    const created = await this._act(
      `Create an API key for ${body.user_id}`,
      [`permissions: ${permissions.join(", ") || "none"}`, `label: ${body.label}`],
      () => api.post(`${API}/admin/api-keys`, { token: this._token(), body }),
    );
    const box = byId("ops-key-secret");
    if (created !== null) {
      // Shown once: the server keeps the secret encrypted and never shows it again.
      box.hidden = false;
      setText(byId("ops-key-secret-key"), created.api_key);
      setText(byId("ops-key-secret-value"), created.secret);
      form.reset();
    }
    await this.loadKeys();
  }

  async revokeKey(key) {
    await this._act(
      `Revoke API key ${key.api_key.slice(0, 12)}…`,
      [`user ${key.user_id}`, "Requests signed with it are refused at once; its streams end."],
      () => api.del(`${API}/admin/api-keys/${encodeURIComponent(key.api_key)}`, { token: this._token() }),
    );
    await this.loadKeys();
  }

  // -- ledger verification --------------------------------------------------------------------------

  async loadVerification() {
    const status = await api.get(`${API}/admin/ledger/verifications/latest`, { token: this._token() });
    this._showVerification(status.last, status.running);
  }

  async verify() {
    // Asked first like every admin action (it reads one snapshot of the whole store).
    const button = byId("ops-verify-button");
    button.disabled = true;
    try {
      const result = await this._act(
        "Verify the ledger",
        ["conservation of every asset, holds and the ledger, on one snapshot of the store"],
        async () => {
          setText(byId("ops-verify-outcome"), "verifying…");
          try {
            return await api.post(`${API}/admin/ledger/verifications`, { token: this._token() });
          } catch (error) {
            setText(byId("ops-verify-outcome"), api.describe(error));
            throw error;
          }
        },
      );
      if (result !== null) this._showVerification(result, false);
    } finally {
      button.disabled = false;
    }
  }

  _showVerification(result, running) {
    const outcome = byId("ops-verify-outcome");
    if (result === null) {
      setText(outcome, running ? "verifying…" : "not verified since the service started");
      outcome.dataset.outcome = "";
      byId("ops-verify-problems").replaceChildren();
      return;
    }
    outcome.dataset.outcome = result.outcome;
    setText(
      outcome,
      `${result.outcome} at ${dateTime(result.finished_at)} in ${result.duration_ms} ms — ` +
        `${result.markets} markets, ${result.accounts} accounts, ${result.open_orders} open orders` +
        (result.error ? ` — ${result.error}` : ""),
    );
    const problems = result.problems.map((problem) => el("li", {}, problem));
    if (result.problem_count > result.problems.length) {
      problems.push(el("li", {}, `and ${result.problem_count - result.problems.length} more`));
    }
    byId("ops-verify-problems").replaceChildren(...problems);
  }

  // -- audit log -----------------------------------------------------------------------------------

  async loadAudit() {
    const page = await api.get(`${API}/admin/audit-log`, { token: this._token(), query: { limit: 50 } });
    const rows = page.entries.map((entry) =>
      el(
        "tr",
        { dataset: { auditId: entry.id } },
        el("td", { class: "muted" }, dateTime(entry.time)),
        el("td", { class: "actor" }, entry.actor),
        el("td", { class: "action" }, entry.action),
        el("td", { class: "target" }, entry.target ?? ""),
        el(
          "td",
          { class: "summary" },
          Object.entries(entry.summary)
            .map(([name, value]) => `${name}=${typeof value === "string" ? value : JSON.stringify(value)}`)
            .join("  "),
        ),
        el("td", { class: "num" }, entry.status),
      ),
    );
    fillRows(byId("ops-audit-body"), rows, "no admin actions recorded yet", 6);
  }
}
